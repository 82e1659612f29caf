/*
 * process.terminal with --console-socket, as runc: the pty is made inside the container (its own devpts,
 * after pivot_root), the master goes to whoever listens on the console socket (conmon, containerd's
 * shim) over SCM_RIGHTS, and the slave becomes the controlling terminal and stdio of the process.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int csr_setup_console(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;
    if (p->console_socket_fd < 0)
        return 0;
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) {
        csr_err(e, errno, "open /dev/ptmx in the container", NULL);
        return -1;
    }
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) {
        csr_err(e, errno, "unlock pty", NULL);
        goto fail;
    }
    /* The peer by fd, not by /dev/pts/N path: nothing in the container can swap the path under us. */
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        csr_err(e, errno, "open pty slave", NULL);
        goto fail;
    }
    if (p->console_rows || p->console_cols) {
        struct winsize ws = {.ws_row = p->console_rows, .ws_col = p->console_cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    /* The process user must own its terminal (ids are mapped already in a user namespace). */
    if (fchown(slave, p->uid, p->gid) < 0 && errno != EINVAL) {
        csr_err(e, errno, "chown pty slave", NULL);
        close(slave);
        goto fail;
    }
    if (csr_send_fd(p->console_socket_fd, master, "/dev/ptmx", 9) < 0) {
        csr_err(e, errno, "send pty master to the console socket", NULL);
        close(slave);
        goto fail;
    }
    close(master);
    close(p->console_socket_fd);
    if (setsid() < 0 && errno != EPERM) {
        csr_err(e, errno, "setsid", NULL);
        close(slave);
        return -1;
    }
    if (ioctl(slave, TIOCSCTTY, 0) < 0) {
        csr_err(e, errno, "make the pty the controlling terminal", NULL);
        close(slave);
        return -1;
    }
    for (int fd = 0; fd < 3; fd++) {
        if (dup2(slave, fd) < 0) {
            csr_err(e, errno, "dup pty slave to stdio", NULL);
            close(slave);
            return -1;
        }
    }
    if (slave > 2)
        close(slave);
    return 0;
fail:
    close(master);
    return -1;
}
