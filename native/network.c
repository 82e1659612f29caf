/*
 * The container's own network namespace: its loopback interface up, as runc and crun leave it, so that
 * 127.0.0.1 and ::1 work inside without anything else configured. Only in a namespace made for the
 * container (no path in the spec: made by the clone, by the spawner or ahead of it); one joined by path is
 * someone else's and stays as it is, and every other interface is the business of whoever sets up the
 * network (CNI).
 */
#include "internal.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int csr_loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    csr_strlcpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int err = errno;
    close(s);
    errno = err;
    return r;
}

int csr_setup_network(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    int own = 0;
    for (int i = 0; i < p->n_namespaces && !p->exec_mode; i++)
        if (p->namespaces[i].type == CLONE_NEWNET && !p->namespaces[i].path)
            own = 1;
    /* Up already where the spawner made the namespace (spawner.c): then this only looks. */
    if (own && csr_loopback_up() < 0) {
        csr_err(&c->err, errno, "bring up loopback in the container's network namespace", NULL);
        return -1;
    }
    return 0;
}
