/*
 * nvisy_isolation.h — the few system calls plugin isolation needs that Swift's Glibc
 * module does not import (memfd_create, posix_spawn_file_actions_addclosefrom_np)
 * and the child's privilege drop, kept in C so each is one plain call from Swift.
 */
#ifndef NVISY_ISOLATION_H
#define NVISY_ISOLATION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A sealed-size anonymous shared-memory file of `size` bytes (close-on-exec), or -1 (errno set). */
int nvisy_memfd(const char *name, size_t size);

/** `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`; returns 0 or -1 (errno set). */
int nvisy_socketpair(int fds[2]);

/**
 * Starts `path` with `argv`/`envp` (NULL-terminated) as a child whose fd 3 is `sock_fd` and
 * fd 4 is `mem_fd`, with every other descriptor above 2 closed, default signal handling and
 * an empty signal mask, in its own process group. Returns 0 and sets *pid, or an errno value.
 */
int nvisy_spawn_child(const char *path, char *const argv[], char *const envp[], int sock_fd, int mem_fd, pid_t *pid);

/**
 * In the child, before it loads a plugin: cap the address space (`memory_bytes`, 0 = no cap) and CPU time (`cpu_seconds`, 0 = no cap), and
 * when running as root switch to `user` (groups, gid, uid; NULL = stay). (No PR_SET_PDEATHSIG:
 * it fires when the spawning *thread* exits; the child exits on its socket's end instead.) Returns 0, or -1
 * with a reason in `why` (`why_len` bytes).
 */
int nvisy_child_confine(uint64_t memory_bytes, uint64_t cpu_seconds, const char *user, pid_t expected_parent,
                        char *why, size_t why_len);

/** Sets a send timeout on a socket (so a peer that stops reading cannot block the sender forever). */
int nvisy_socket_send_timeout(int fd, int milliseconds);

#ifdef __cplusplus
}
#endif

#endif /* NVISY_ISOLATION_H */
