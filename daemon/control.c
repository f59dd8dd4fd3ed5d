/* control.c: the Unix socket clients connect to, and accepting them. */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "dbmd.h"
#include "proto.h"

#define ACCEPT_BACKOFF_MS	1000	/* out of descriptors: pause accepting this long */

/*
 * A descriptor held in reserve: at the descriptor limit it is given up for a moment to
 * accept a client and tell it why it is refused, instead of leaving it in the listen
 * queue with no answer.
 */
static int spare_fd = -1;

static void
spare_take(void)
{
	if (spare_fd == -1)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void control_accept(evutil_socket_t, short, void *);
static long long clients_of(uid_t);

static int
sockaddr_for(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		log_warnx("socket path %s is longer than %zu bytes", path,
		    sizeof(sun->sun_path) - 1);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/*
 * A socket file already at the path: another dbmd answering there is fatal; a file
 * nobody answers on is left over from a crash and is removed.
 */
static int
check_existing(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : (log_warn("%s", path), -1);
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket; not touching it", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return log_warn("socket"), -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		log_warnx("another dbmd is serving on %s", path);
		return -1;
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) == -1 && errno != ENOENT)
		return log_warn("unlink %s", path), -1;
	return 0;
}

/* Creates the socket's directory when it is missing: 0755 for root, 0700 otherwise. */
static void
make_parent(const char *path)
{
	char *copy = xstrdup(path), *dir = dirname(copy);

	if (mkdir(dir, getuid() == 0 ? 0755 : 0700) == -1 && errno != EEXIST)
		log_warn("mkdir %s", dir);
	free(copy);
}

/*
 * The socket systemd passed (socket activation): the one named "dbmd", or the only
 * one.  Returns the descriptor, -1 when there is none, -2 on error.
 */
static int
inherited_socket(void)
{
	char **names = NULL;
	int n, i, fd = -1;

	if ((n = sd_listen_fds_with_names(1, &names)) <= 0)
		return n < 0 ? (log_warnx("LISTEN_FDS: %s", strerror(-n)), -2) : -1;
	for (i = 0; i < n; i++)
		if (n == 1 || (names != NULL && strcmp(names[i], "dbmd") == 0))
			fd = SD_LISTEN_FDS_START + i;
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	if (fd == -1) {
		log_warnx("systemd passed %d sockets and none is named dbmd", n);
		return -2;
	}
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		log_warnx("the socket systemd passed is not a listening Unix stream socket");
		return -2;
	}
	return fd;
}

/* Serves on fd: from now on every connection on it is a client. */
static int
control_serve(int fd)
{
	dbmd->listen_fd = fd;
	spare_take();
	dbmd->listen_ev = event_new(dbmd->base, fd, EV_READ | EV_PERSIST, control_accept, NULL);
	if (dbmd->listen_ev == NULL || event_add(dbmd->listen_ev, NULL) == -1) {
		log_warnx("cannot watch the socket");
		control_close();
		return -1;
	}
	return 0;
}

/*
 * Listens on the socket systemd passed, or on the configured one, created under a
 * restrictive umask and then given the configured mode and group, so that no one can
 * connect before its permissions are final.
 */
int
control_listen(const struct daemon_config *dc)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);
	struct group *gr;
	mode_t old;
	int fd;

	if ((fd = inherited_socket()) == -2)
		return -1;
	if (fd >= 0) {
		evutil_make_socket_nonblocking(fd);
		evutil_make_socket_closeonexec(fd);
		dbmd->listen_inherited = true;
		memset(&sun, 0, sizeof(sun));
		if (getsockname(fd, (struct sockaddr *)&sun, &sl) == 0 && sun.sun_path[0] != '\0')
			dbmd->socket_path = xstrdup(sun.sun_path);
		else
			dbmd->socket_path = xstrdup(dc->socket);
		return control_serve(fd);
	}
	if (sockaddr_for(dc->socket, &sun) == -1)
		return -1;
	make_parent(dc->socket);
	if (check_existing(dc->socket, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", dc->socket);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(dc->socket, (mode_t)dc->socket_mode) == -1)
		log_warn("chmod %s", dc->socket);
	if (dc->socket_group[0] != '\0') {
		if ((gr = getgrnam(dc->socket_group)) == NULL)
			log_warnx("socket_group %s: no such group", dc->socket_group);
		else if (chown(dc->socket, (uid_t)-1, gr->gr_gid) == -1)
			log_warn("chown %s to group %s", dc->socket, dc->socket_group);
	}
	if (listen(fd, 128) == -1) {
		log_warn("listen %s", dc->socket);
		close(fd);
		unlink(dc->socket);
		return -1;
	}
	dbmd->socket_path = xstrdup(dc->socket);
	return control_serve(fd);
}

/* Stops accepting and removes the socket file. */
void
control_close(void)
{
	if (spare_fd != -1) {
		close(spare_fd);
		spare_fd = -1;
	}
	if (dbmd->listen_ev != NULL) {
		event_free(dbmd->listen_ev);
		dbmd->listen_ev = NULL;
	}
	if (dbmd->accept_pause != NULL) {
		event_free(dbmd->accept_pause);
		dbmd->accept_pause = NULL;
	}
	if (dbmd->listen_fd != -1) {
		close(dbmd->listen_fd);
		dbmd->listen_fd = -1;
		if (dbmd->socket_path != NULL && !dbmd->listen_inherited)
			unlink(dbmd->socket_path);
	}
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev, (void)arg;
	if (dbmd->listen_ev != NULL)
		event_add(dbmd->listen_ev, NULL);
}

/* Refuses a client with a GOODBYE it can read, without a session. */
static void
refuse(int fd, int code, const char *reason)
{
	struct proto_buf b;
	struct proto_goodbye g = { .code = (uint16_t)code, .reason = reason };

	proto_buf_init(&b);
	if (proto_encode_goodbye(&b, 0, &g) == PROTO_E_OK)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	proto_buf_free(&b);
	close(fd);
}

/*
 * Out of descriptors: the reserve goes to accept one client, which is told why it is
 * refused; then the reserve is taken back (if something else took the descriptor
 * meanwhile, the next time accepting pauses instead).  False when no client was
 * waiting: the kernel says EMFILE before it looks at the queue.
 */
static bool
refuse_out_of_fds(int lfd)
{
	int fd;

	close(spare_fd);
	spare_fd = -1;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		log_warnx("accept: out of file descriptors (RLIMIT_NOFILE): a client refused");
		refuse(fd, PROTO_E_LIMIT, "dbmd has no file descriptor free (its open-files "
		    "limit): try again later");
	}
	spare_take();
	return fd != -1;
}

static long long
clients_of(uid_t uid)
{
	const struct session *s;
	long long n = 0;

	TAILQ_FOREACH(s, &dbmd->sessions, entry)
		n += s->peer.uid == uid && !s->dead;
	return n;
}

static void
control_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct ucred cred;
	socklen_t len;
	struct timeval tv = { ACCEPT_BACKOFF_MS / 1000, (ACCEPT_BACKOFF_MS % 1000) * 1000 };
	int fd;

	(void)ev, (void)arg;
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			if ((errno == EMFILE || errno == ENFILE) && spare_fd != -1) {
				if (refuse_out_of_fds(lfd))
					continue;
				return;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Waiting beats spinning: the listen queue holds the clients. */
				log_warn("accept: pausing for %dms", ACCEPT_BACKOFF_MS);
				event_del(dbmd->listen_ev);
				if (dbmd->accept_pause == NULL)
					dbmd->accept_pause = evtimer_new(dbmd->base, accept_resume,
					    NULL);
				if (dbmd->accept_pause != NULL)
					evtimer_add(dbmd->accept_pause, &tv);
				return;
			}
			log_warn("accept");
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
			log_warn("SO_PEERCRED");
			close(fd);
			continue;
		}
		if (dbmd->nsessions >= dbmd->cfg->daemon.max_clients) {
			log_warnx("client pid %ld uid %lu refused: %d clients connected "
			    "(daemon.max_clients)", (long)cred.pid, (unsigned long)cred.uid,
			    dbmd->nsessions);
			refuse(fd, PROTO_E_LIMIT, "too many clients");
			continue;
		}
		if (clients_of(cred.uid) >= dbmd->cfg->daemon.max_clients_per_uid) {
			log_warnx("client pid %ld uid %lu refused: the user has %lld clients "
			    "connected (daemon.max_clients_per_uid)", (long)cred.pid,
			    (unsigned long)cred.uid, dbmd->cfg->daemon.max_clients_per_uid);
			refuse(fd, PROTO_E_LIMIT, "too many clients of this user");
			continue;
		}
		session_new(fd, cred.uid, cred.gid, cred.pid);
	}
}
