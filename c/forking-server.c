/* forking-server.c: the C twin of crates/03-forking-server, after the
 * book's server4.
 *
 * As server1, but after accept it forks: a child process serves the
 * client while the parent goes back to accept the next one.
 *
 *   cc -O2 -Wall -Wextra -o forking-server forking-server.c
 *   ./forking-server [SOCKET_PATH [WORK_SECONDS]]  (server_socket, 0)
 *
 * The bench also builds it with -DEXTRA_THREAD -pthread, into
 * forking-server-thread: the same server with one more thread that only
 * waits in sigwait, to measure what one more thread costs each fork. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef EXTRA_THREAD
#include <errno.h>
#include <pthread.h>

/* The extra thread: it waits for SIGUSR2, blocked in this thread only,
 * forever. It does nothing else; it is simply there when main forks. */
static void *wait_in_sigwait(void *unused)
{
    sigset_t set;
    int signal_number;

    (void)unused;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (;;)
        sigwait(&set, &signal_number);
    return NULL;
}
#endif

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

/* ANCHOR: serve_client */
/* The child's whole job: one byte in, the next one out. */
static void serve_client(int client_sockfd, unsigned work)
{
    unsigned char ch;

    ssize_t got = read(client_sockfd, &ch, 1);
    if (got == 1) {
        if (work > 0)
            sleep(work); /* only this child sleeps: the others go on */
        ch++;
        if (write(client_sockfd, &ch, 1) == -1)
            perror("write");
    } else if (got == -1) {
        perror("read");
    }
    close(client_sockfd);
}
/* ANCHOR_END: serve_client */

int main(int argc, char *argv[])
{
    const char *path;
    unsigned work;

#ifdef EXTRA_THREAD
    pthread_t extra_thread;
    int error = pthread_create(&extra_thread, NULL, wait_in_sigwait, NULL);
    if (error != 0) {
        errno = error;
        fail("pthread_create");
    }
#endif

    parse_args(argc, argv, &path, &work);

    /* ANCHOR: setup */
    /* Remove any old socket file, blindly, as the book does. */
    unlink(path);

    /* Ask the kernel for a socket: an unnamed endpoint, a descriptor. */
    int server_sockfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (server_sockfd == -1)
        fail("socket");

    /* Name the socket: the kernel creates a socket file at the path. */
    struct sockaddr_un server_address;
    memset(&server_address, 0, sizeof server_address);
    server_address.sun_family = AF_UNIX;
    strcpy(server_address.sun_path, path);
    if (bind(server_sockfd, (struct sockaddr *)&server_address,
             sizeof server_address) == -1)
        fail("bind");

    /* Queue up to 5 clients that have connected and wait for accept. */
    if (listen(server_sockfd, 5) == -1)
        fail("listen");
    /* ANCHOR_END: setup */

    /* ANCHOR: sigchld */
    /* A child that ends stays a zombie until its parent waits for it,
     * unless SIGCHLD is ignored: then the kernel reaps it at once. */
    signal(SIGCHLD, SIG_IGN);
    /* ANCHOR_END: sigchld */

    /* ANCHOR: loop */
    for (;;) {
        printf("server waiting\n");

        /* Sleep until a client connects: a new socket for it. */
        int client_sockfd = accept(server_sockfd, NULL, NULL);
        if (client_sockfd == -1)
            fail("accept");

        /* ANCHOR: fork */
        /* The kernel copies this process: the child gets a copy of every
         * descriptor (both sockets), of memory, and of stdio's buffer.
         * fork returns twice: 0 in the child, the child's pid here. */
        pid_t pid = fork();
        if (pid == -1)
            fail("fork");
        if (pid == 0) {
            /* The child: it serves this client only, so it lets go of the
             * listening socket, then ends. _exit, not exit: exit would
             * flush the copy of the parent's unwritten lines, and they
             * would come out twice (the book's server4 calls exit). */
            close(server_sockfd);
            serve_client(client_sockfd, work);
            _exit(0);
        }
        /* The parent: the child holds the connection now; closing our
         * copy leaves it open until the child closes its own. */
        close(client_sockfd);
        /* ANCHOR_END: fork */
    }
    /* ANCHOR_END: loop */
}
