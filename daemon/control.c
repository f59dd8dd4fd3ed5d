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
 * A socket clients connect to: dbmd's own protocol, or PostgreSQL's (the front door).
 * Both take clients the same way and hand them to a session of their kind.
 */
struct listener {
	enum session_kind	 kind;
	int			 fd;
	bool			 inherited;	/* from systemd: not ours to remove */
	char			*path;
	struct event		*ev;
	struct event		*pause;		/* accepting resumes after running out */
};

static struct listener listeners[2] = {
	{ .kind = SESSION_NATIVE, .fd = -1 },
	{ .kind = SESSION_PG, .fd = -1 },
};

/*
 * The socket systemd passed for a kind (socket activation): the one named "dbmd" (or
 * the only one) for dbmd's protocol, the one named "pg" for PostgreSQL's.  Returns the
 * descriptor, -1 when there is none, -2 on error.
 */
static int
inherited_socket(enum session_kind kind)
{
	const char *want = kind == SESSION_PG ? "pg" : "dbmd";
	char **names = NULL;
	int n, i, fd = -1;

	if ((n = sd_listen_fds_with_names(0, &names)) <= 0)
		return n < 0 ? (log_warnx("LISTEN_FDS: %s", strerror(-n)), -2) : -1;
	for (i = 0; i < n; i++)
		if ((n == 1 && kind == SESSION_NATIVE) ||
		    (names != NULL && strcmp(names[i], want) == 0))
			fd = SD_LISTEN_FDS_START + i;
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	if (fd == -1) {
		if (kind == SESSION_PG)
			return -1;
		log_warnx("systemd passed %d sockets and none is named dbmd", n);
		return -2;
	}
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		log_warnx("the socket systemd passed as %s is not a listening Unix stream socket",
		    want);
		return -2;
	}
	return fd;
}

/* Serves on fd: from now on every connection on it is a client of the listener's kind. */
static int
control_serve(struct listener *l, int fd)
{
	l->fd = fd;
	spare_take();
	l->ev = event_new(dbmd->base, fd, EV_READ | EV_PERSIST, control_accept, l);
	if (l->ev == NULL || event_add(l->ev, NULL) == -1) {
		log_warnx("cannot watch the socket %s", l->path);
		return -1;
	}
	return 0;
}

/*
 * Binds path, created under a restrictive umask and then given the configured mode and
 * group, so that no one can connect before its permissions are final.  The descriptor,
 * or -1.
 */
static int
bind_socket(const char *path, const struct daemon_config *dc)
{
	struct sockaddr_un sun;
	struct group *gr;
	mode_t old;
	int fd;

	if (sockaddr_for(path, &sun) == -1)
		return -1;
	make_parent(path);
	if (check_existing(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", path);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, (mode_t)dc->socket_mode) == -1)
		log_warn("chmod %s", path);
	if (dc->socket_group[0] != '\0') {
		if ((gr = getgrnam(dc->socket_group)) == NULL)
			log_warnx("socket_group %s: no such group", dc->socket_group);
		else if (chown(path, (uid_t)-1, gr->gr_gid) == -1)
			log_warn("chown %s to group %s", path, dc->socket_group);
	}
	if (listen(fd, 128) == -1) {
		log_warn("listen %s", path);
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/*
 * Where the front door listens: .s.PGSQL.<port> as libpq names it, in pg_socket_dir
 * or else beside dbmd's socket; NULL when pg_port is 0.
 */
static char *
pg_socket_path(const struct daemon_config *dc, const char *socket)
{
	char *copy, *path;

	if (dc->pg_port == 0)
		return NULL;
	if (dc->pg_socket_dir[0] != '\0')
		return xasprintf("%s/.s.PGSQL.%lld", dc->pg_socket_dir, dc->pg_port);
	copy = xstrdup(socket);
	path = xasprintf("%s/.s.PGSQL.%lld", dirname(copy), dc->pg_port);
	free(copy);
	return path;
}

/* Listens for one kind of client: on the socket systemd passed, or on path. */
static int
listener_open(struct listener *l, const char *path, const struct daemon_config *dc)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);
	int fd;

	if ((fd = inherited_socket(l->kind)) == -2)
		return -1;
	if (fd >= 0) {
		evutil_make_socket_nonblocking(fd);
		evutil_make_socket_closeonexec(fd);
		l->inherited = true;
		memset(&sun, 0, sizeof(sun));
		if (getsockname(fd, (struct sockaddr *)&sun, &sl) == 0 && sun.sun_path[0] != '\0')
			l->path = xstrdup(sun.sun_path);
		else
			l->path = xstrdup(path);
		return control_serve(l, fd);
	}
	if ((fd = bind_socket(path, dc)) == -1)
		return -1;
	l->path = xstrdup(path);
	return control_serve(l, fd);
}

/*
 * Listens on dbmd's socket and, unless pg_port is 0, on the PostgreSQL front door's.
 * Either failing is fatal: an operator who configured a socket expects it served.
 */
int
control_listen(const struct daemon_config *dc)
{
	char *pg;
	int rc;

	if (listener_open(&listeners[0], dc->socket, dc) == -1) {
		control_close();
		return -1;
	}
	dbmd->listen_inherited = listeners[0].inherited;
	dbmd->socket_path = xstrdup(listeners[0].path);
	if ((pg = pg_socket_path(dc, listeners[0].path)) == NULL)
		return 0;
	if (pg[0] != '/') {
		log_warnx("pg_socket_dir: \"%s\" is not an absolute path", dc->pg_socket_dir);
		free(pg);
		control_close();
		return -1;
	}
	rc = listener_open(&listeners[1], pg, dc);
	free(pg);
	if (rc == -1) {
		control_close();
		return -1;
	}
	dbmd->pg_socket_path = xstrdup(listeners[1].path);
	return 0;
}

/* Stops accepting and removes the socket files. */
void
control_close(void)
{
	struct listener *l;
	size_t i;

	if (spare_fd != -1) {
		close(spare_fd);
		spare_fd = -1;
	}
	for (i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
		l = &listeners[i];
		if (l->ev != NULL)
			event_free(l->ev);
		if (l->pause != NULL)
			event_free(l->pause);
		l->ev = l->pause = NULL;
		if (l->fd != -1) {
			close(l->fd);
			if (l->path != NULL && !l->inherited)
				unlink(l->path);
		}
		l->fd = -1;
		l->inherited = false;
		free(l->path);
		l->path = NULL;
	}
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct listener *l = arg;

	(void)fd, (void)ev;
	if (l->ev != NULL)
		event_add(l->ev, NULL);
}

/*
 * Refuses a client without a session: a GOODBYE it can read, or for a PostgreSQL
 * client the FATAL ErrorResponse libpq reads in place of the authentication request.
 */
static void
refuse(const struct listener *l, int fd, int code, const char *reason)
{
	struct proto_buf b;
	struct proto_goodbye g = { .code = (uint16_t)code, .reason = reason };
	uint8_t pg[512];
	size_t n;

	if (l->kind == SESSION_PG) {
		if ((n = pgwire_fatal(code, reason, pg, sizeof(pg))) > 0)
			(void)!send(fd, pg, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
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
refuse_out_of_fds(const struct listener *l, int lfd)
{
	int fd;

	close(spare_fd);
	spare_fd = -1;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		log_warnx("accept: out of file descriptors (RLIMIT_NOFILE): a client refused");
		refuse(l, fd, PROTO_E_LIMIT, "dbmd has no file descriptor free (its open-files "
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
	struct listener *l = arg;
	int fd;

	(void)ev;
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			if ((errno == EMFILE || errno == ENFILE) && spare_fd != -1) {
				if (refuse_out_of_fds(l, lfd))
					continue;
				return;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Waiting beats spinning: the listen queue holds the clients. */
				log_warn("accept: pausing for %dms", ACCEPT_BACKOFF_MS);
				event_del(l->ev);
				if (l->pause == NULL)
					l->pause = evtimer_new(dbmd->base, accept_resume, l);
				if (l->pause != NULL)
					evtimer_add(l->pause, &tv);
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
			refuse(l, fd, PROTO_E_LIMIT, "too many clients");
			continue;
		}
		if (clients_of(cred.uid) >= dbmd->cfg->daemon.max_clients_per_uid) {
			log_warnx("client pid %ld uid %lu refused: the user has %lld clients "
			    "connected (daemon.max_clients_per_uid)", (long)cred.pid,
			    (unsigned long)cred.uid, dbmd->cfg->daemon.max_clients_per_uid);
			refuse(l, fd, PROTO_E_LIMIT, "too many clients of this user");
			continue;
		}
		session_new(fd, cred.uid, cred.gid, cred.pid, l->kind);
	}
}
