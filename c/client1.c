/* client1.c: the C twin of crates/01-client-fails, after the book's
 * client1.
 *
 * A client on a local socket: it connects to the server's named socket,
 * sends one character, and prints the one that comes back. Run it before
 * any server exists and connect fails: "oops: client1: No such file or
 * directory".
 *
 *   cc -O2 -Wall -Wextra -o client1 client1.c
 *   ./client1 [SOCKET_PATH]                      (server_socket)
 *
 * The book shows it beside the Rust client1; the bench only compiles it,
 * so that it keeps building, and measures with its own load client. Like
 * the book's program, it gives no hint after the error, and when the
 * server hangs up without replying it prints the character it sent as if
 * it were the reply: the Rust client says what happened instead. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A system call failed: say which, and why (errno), and give up. */
static void fail(const char *call)
{
    perror(call);
    exit(1);
}

/* PROGRAM [SOCKET_PATH]: exit 2 for anything else. */
static const char *parse_args(int argc, char *argv[])
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [SOCKET_PATH]\n", argv[0]);
        exit(2);
    }
    const char *path = argc > 1 ? argv[1] : "server_socket";
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "%s: socket path too long: %s\n", argv[0], path);
        exit(1);
    }
    return path;
}

int main(int argc, char *argv[])
{
    const char *path = parse_args(argc, argv);
    char ch = 'A';

    /* ANCHOR: connect */
    /* Ask the kernel for a new, unnamed socket: a descriptor, so far. */
    int sockfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (sockfd == -1)
        fail("socket");

    /* Ask the kernel to join it to the server's named socket. With no
     * socket file at the path, the kernel answers ENOENT, which perror
     * prints as "No such file or directory"; a socket file that no
     * server listens on gives ECONNREFUSED, "Connection refused". */
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    strcpy(address.sun_path, path);
    socklen_t len = sizeof address;
    if (connect(sockfd, (struct sockaddr *)&address, len) == -1) {
        perror("oops: client1");
        exit(1);
    }
    /* ANCHOR_END: connect */

    /* ANCHOR: exchange */
    /* The connection is a byte stream: write puts our byte into it... */
    if (write(sockfd, &ch, 1) == -1)
        fail("write");

    /* ...and read sleeps until the server's reply arrives. Like the
     * book's client, this one does not look at what read returns: if the
     * server hung up without replying (0 bytes, or ECONNRESET when it
     * had not even read our byte), ch is still 'A', printed as if it
     * were the reply. */
    ssize_t got = read(sockfd, &ch, 1);
    (void)got;
    printf("char from server = %c\n", ch);

    /* Give the descriptor back; the server sees the end of the stream. */
    close(sockfd);
    /* ANCHOR_END: exchange */
    exit(0);
}
