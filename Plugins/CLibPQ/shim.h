// libpq from Debian's libpq-dev (scripts/install-deps.sh installs it).
#include <libpq-fe.h>
