/* epoll-server.c: the C twin of crates/05-epoll-server, beyond the book.
 *
 * select-server's loop with epoll: the kernel keeps the list of watched
 * descriptors from one wait to the next, and each wait hands back only
 * the ready ones, however many clients are idle.
 *
 *   cc -O2 -Wall -Wextra -o epoll-server epoll-server.c
 *   ./epoll-server [SOCKET_PATH [WORK_SECONDS]]    (server_socket, 0)
 *
 * WORK_SECONDS sleeps inside the loop, as select-server.c does. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* At most this many ready descriptors come back from one epoll_wait; the
 * others stay ready and come back from the next one. */
#define MAX_EVENTS 64

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

int main(int argc, char *argv[])
{
    const char *path;
    unsigned work;

    parse_args(argc, argv, &path, &work);

    /* A client that hangs up before its reply must not kill the server:
     * with SIGPIPE ignored, write fails with EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);

    /* ANCHOR: setup */
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
    /* ANCHOR_END: setup */

    /* ANCHOR: epoll_create */
    /* Ask the kernel for an epoll instance: a descriptor behind which it
     * keeps the descriptors we watch (the interest list). */
    int epfd = epoll_create1(0);
    if (epfd == -1)
        fail("epoll_create1");

    /* Watch the listening socket, level-triggered as select is: it is
     * reported ready for as long as a client waits in the queue. The
     * kernel hands data.fd back with each event. */
    struct epoll_event event = {.events = EPOLLIN, .data.fd = server_sockfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, server_sockfd, &event) == -1)
        fail("epoll_ctl");
    /* ANCHOR_END: epoll_create */

    /* ANCHOR: loop */
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        printf("server waiting\n");

        /* Sleep until a watched descriptor is ready. The kernel looks at
         * no descriptor here: each socket put itself on the ready list
         * when its byte, connection or hang-up arrived. */
        int ready = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (ready == -1)
            fail("epoll_wait");

        /* Only the ready descriptors, however many clients are idle. */
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;

            if (fd == server_sockfd) {
                /* A client waits in the queue: accept does not sleep. */
                int client_sockfd = accept(server_sockfd, NULL, NULL);
                if (client_sockfd == -1)
                    fail("accept");
                struct epoll_event client = {.events = EPOLLIN,
                                             .data.fd = client_sockfd};
                if (epoll_ctl(epfd, EPOLL_CTL_ADD, client_sockfd,
                              &client) == -1)
                    fail("epoll_ctl");
                printf("adding client on fd %d\n", client_sockfd);
                continue;
            }

            /* A byte, or 0 at the end of the stream: no sleep. */
            unsigned char ch;
            ssize_t got = read(fd, &ch, 1);
            if (got == 1) {
                if (work > 0)
                    sleep(work); /* as select-server.c: everyone waits */
                printf("serving client on fd %d\n", fd);
                ch++;
                if (write(fd, &ch, 1) == 1)
                    continue;
                perror("write");
            } else if (got == -1) {
                perror("read");
            }

            /* Hung up (or gone): out of the interest list, and close. */
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            close(fd);
            printf("removing client on fd %d\n", fd);
        }
    }
    /* ANCHOR_END: loop */
}
