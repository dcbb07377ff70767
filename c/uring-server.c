/* uring-server.c: the C twin of crates/06-uring-server, beyond the book.
 *
 * epoll-server's protocol by completions, with liburing: accept, read and
 * write are requests put on the submission ring; the kernel makes each
 * call when it can and puts its result on the completion ring.
 *
 *   cc -O2 -Wall -Wextra -o uring-server uring-server.c -luring
 *   ./uring-server [SOCKET_PATH [WORK_SECONDS]]    (server_socket, 0)
 *
 * WORK_SECONDS is a timer request per reply, as in the Rust. Needs
 * liburing 2.2 or later (Debian and Ubuntu: liburing-dev) and Linux 5.19. */

#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Requests one io_uring_enter can take, and room for their results. */
#define SUBMISSIONS 256
#define COMPLETIONS 4096
/* Clients are told apart by descriptor number, up to this one. */
#define MAX_FDS 65536

/* Which of a client's requests is in flight: exactly one always is. */
enum doing { READING, WORKING, WRITING };

static struct io_uring ring;
/* Each client's byte, read then written back: the kernel reads and
 * writes it after we submit, so it lives as long as the program. */
static unsigned char byte[MAX_FDS];
static enum doing doing[MAX_FDS];

/* A system call failed: say which, and why (errno), and give up. */
static void fail(const char *call)
{
    perror(call);
    exit(1);
}

/* PROGRAM [SOCKET_PATH [WORK_SECONDS]]: exit 2 for anything else. */
static void parse_args(int argc, char *argv[], const char **path,
                       unsigned *work)
{
    char *end = NULL;
    unsigned long seconds = 0;

    if (argc > 2)
        seconds = strtoul(argv[2], &end, 10);
    if (argc > 3 || (argc > 2 && (*argv[2] == '\0' || *end != '\0' ||
                                  seconds > 86400))) {
        fprintf(stderr, "usage: %s [SOCKET_PATH [WORK_SECONDS]]\n", argv[0]);
        exit(2);
    }
    *path = argc > 1 ? argv[1] : "server_socket";
    *work = (unsigned)seconds;
    if (strlen(*path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "%s: socket path too long: %s\n", argv[0], *path);
        exit(1);
    }
}

/* A free submission queue entry; a full queue is handed over first. */
static struct io_uring_sqe *next_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (sqe == NULL) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void accept_clients(int server_sockfd)
{
    struct io_uring_sqe *sqe = next_sqe();
    io_uring_prep_multishot_accept(sqe, server_sockfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, server_sockfd);
}

static void read_byte(int fd)
{
    struct io_uring_sqe *sqe = next_sqe();
    doing[fd] = READING;
    io_uring_prep_read(sqe, fd, &byte[fd], 1, 0);
    io_uring_sqe_set_data64(sqe, fd);
}

static void send_reply(int fd)
{
    struct io_uring_sqe *sqe = next_sqe();
    printf("serving client on fd %d\n", fd);
    doing[fd] = WRITING;
    io_uring_prep_write(sqe, fd, &byte[fd], 1, 0);
    io_uring_sqe_set_data64(sqe, fd);
}

int main(int argc, char *argv[])
{
    const char *path;
    unsigned work;

    parse_args(argc, argv, &path, &work);

    /* A client that hangs up before its reply must not kill the server:
     * with SIGPIPE ignored, the write fails with EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);

    /* ANCHOR: ring */
    /* Ask the kernel for an io_uring instance (io_uring_setup), and map
     * its two rings into our memory. */
    struct io_uring_params params = {.flags = IORING_SETUP_CQSIZE,
                                     .cq_entries = COMPLETIONS};
    int ret = io_uring_queue_init_params(SUBMISSIONS, &ring, &params);
    if (ret < 0) {
        errno = -ret;
        fail("io_uring_queue_init");
    }
    /* ANCHOR_END: ring */

    /* Setting up is server1's, repeated on purpose. */
    unlink(path);
    int server_sockfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (server_sockfd == -1)
        fail("socket");
    struct sockaddr_un server_address;
    memset(&server_address, 0, sizeof server_address);
    server_address.sun_family = AF_UNIX;
    strcpy(server_address.sun_path, path);
    if (bind(server_sockfd, (struct sockaddr *)&server_address,
             sizeof server_address) == -1)
        fail("bind");
    if (listen(server_sockfd, 5) == -1)
        fail("listen");

    /* ANCHOR: loop */
    /* One accept, multishot: one completion per client that connects. */
    accept_clients(server_sockfd);
    struct __kernel_timespec work_time = {.tv_sec = work};
    for (;;) {
        printf("server waiting\n");

        /* Hand over the queued requests; sleep until one has completed. */
        ret = io_uring_submit_and_wait(&ring, 1);
        if (ret == -EINTR)
            continue;
        if (ret < 0) {
            errno = -ret;
            fail("io_uring_submit_and_wait");
        }

        /* Every completion: its request's user_data, and its result. */
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            int fd = (int)cqe->user_data;
            int res = cqe->res;
            seen++;

            if (fd == server_sockfd) {
                if (res < 0) {
                    errno = -res;
                    fail("accept");
                }
                if (!(cqe->flags & IORING_CQE_F_MORE))
                    accept_clients(server_sockfd);
                if (res >= MAX_FDS) {
                    close(res);
                    continue;
                }
                printf("adding client on fd %d\n", res);
                read_byte(res);
                continue;
            }

            switch (doing[fd]) {
            case READING:
                if (res == 1 && work > 0) {
                    /* The work: a timer, its completion the reply's cue. */
                    struct io_uring_sqe *sqe = next_sqe();
                    doing[fd] = WORKING;
                    io_uring_prep_timeout(sqe, &work_time, 0, 0);
                    io_uring_sqe_set_data64(sqe, fd);
                    continue;
                }
                if (res == 1) {
                    byte[fd]++;
                    send_reply(fd);
                    continue;
                }
                if (res < 0) {
                    errno = -res;
                    perror("read");
                }
                break;
            case WORKING:
                byte[fd]++;
                send_reply(fd);
                continue;
            case WRITING:
                if (res == 1) {
                    read_byte(fd);
                    continue;
                }
                errno = -res;
                perror("write");
                break;
            }

            /* Hung up (or gone): close. */
            close(fd);
            printf("removing client on fd %d\n", fd);
        }
        io_uring_cq_advance(&ring, seen);
    }
    /* ANCHOR_END: loop */
}
