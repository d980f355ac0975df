#define _GNU_SOURCE
#include "nvisy_isolation.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int nvisy_memfd(const char *name, size_t size) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)size) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int nvisy_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

/* Moves fd above 4 (close-on-exec) so that dup2 onto 3 and 4 never hits itself (dup2 of an fd
   onto itself would keep its close-on-exec flag and the child would lose it). */
static int lift(int fd) {
    return fd > 4 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

int nvisy_spawn_child(const char *path, char *const argv[], char *const envp[], int sock_fd, int mem_fd, pid_t *pid) {
    int s = lift(sock_fd), m = lift(mem_fd);
    if (s < 0 || m < 0) return errno;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, s, 3);
    posix_spawn_file_actions_adddup2(&fa, m, 4);
    /* Only stdin/stdout/stderr and the two descriptors above cross: nothing else the host has open. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 5);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawn(pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (s != sock_fd) close(s);
    if (m != mem_fd) close(m);
    return rc;
}

int nvisy_child_confine(uint64_t memory_bytes, uint64_t cpu_seconds, const char *user, pid_t expected_parent,
                        char *why, size_t why_len) {
    if (memory_bytes > 0) {
        struct rlimit r = {memory_bytes, memory_bytes};
        if (setrlimit(RLIMIT_AS, &r) != 0) {
            snprintf(why, why_len, "setrlimit(RLIMIT_AS, %llu): %s", (unsigned long long)memory_bytes, strerror(errno));
            return -1;
        }
    }
    if (cpu_seconds > 0) {
        /* Soft limit: SIGXCPU (kills); hard limit one second later: SIGKILL. */
        struct rlimit r = {cpu_seconds, cpu_seconds + 1};
        if (setrlimit(RLIMIT_CPU, &r) != 0) {
            snprintf(why, why_len, "setrlimit(RLIMIT_CPU, %llu): %s", (unsigned long long)cpu_seconds, strerror(errno));
            return -1;
        }
    }
    if (user != NULL && geteuid() == 0) {
        struct passwd *pw = getpwnam(user);
        if (pw == NULL) {
            snprintf(why, why_len, "the host runs as root but there is no user \"%s\" to run plugins as "
                     "(create it: useradd --system %s; scripts/install-deps.sh does)", user, user);
            return -1;
        }
        if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
            snprintf(why, why_len, "cannot switch to user \"%s\": %s", user, strerror(errno));
            return -1;
        }
        if (setuid(0) == 0) {
            snprintf(why, why_len, "switched to user \"%s\" but could become root again", user);
            return -1;
        }
    }
    (void)expected_parent;
    return 0;
}

int nvisy_socket_send_timeout(int fd, int milliseconds) {
    struct timeval tv = {milliseconds / 1000, (milliseconds % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
