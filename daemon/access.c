/* access.c: who may do what, decided from the peer's credentials (SO_PEERCRED). */

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbmd.h"

/* A user or group named in a list: by number, or looked up by name. */
static bool
name_is_uid(const char *name, uid_t uid)
{
	struct passwd *pw;
	char *end;
	unsigned long n;

	if (isdigit((unsigned char)name[0])) {
		n = strtoul(name, &end, 10);
		return *end == '\0' && (uid_t)n == uid;
	}
	return (pw = getpwnam(name)) != NULL && pw->pw_uid == uid;
}

static bool
name_gid(const char *name, gid_t *gid)
{
	struct group *gr;
	char *end;
	unsigned long n;

	if (isdigit((unsigned char)name[0])) {
		n = strtoul(name, &end, 10);
		*gid = (gid_t)n;
		return *end == '\0';
	}
	if ((gr = getgrnam(name)) == NULL)
		return false;
	*gid = gr->gr_gid;
	return true;
}

/* The peer's groups: its primary group and those the group database gives its user. */
static void
peer_load_groups(struct peer *p)
{
	gid_t groups[PEER_GROUPS_MAX];
	struct passwd *pw;
	int n = PEER_GROUPS_MAX;

	p->ngroups = 0;
	if ((pw = getpwuid(p->uid)) == NULL)
		return;
	if (getgrouplist(pw->pw_name, p->gid, groups, &n) == -1)
		n = PEER_GROUPS_MAX;	/* more than fit: the first ones are kept */
	if (n > 0 && (p->groups = calloc((size_t)n, sizeof(gid_t))) != NULL) {
		memcpy(p->groups, groups, (size_t)n * sizeof(gid_t));
		p->ngroups = n;
	}
}

static bool
peer_in_group(struct peer *p, gid_t gid)
{
	int i;

	if (p->gid == gid)
		return true;
	if (p->ngroups < 0)
		peer_load_groups(p);
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}

void
access_peer_init(struct peer *p, uid_t uid, gid_t gid)
{
	p->uid = uid;
	p->gid = gid;
	p->groups = NULL;
	p->ngroups = -1;
}

void
access_peer_free(struct peer *p)
{
	free(p->groups);
	p->groups = NULL;
	p->ngroups = -1;
}

static bool
listed(struct peer *p, const struct cfg_value *users, const struct cfg_value *groups)
{
	gid_t gid;
	size_t i;

	for (i = 0; i < users->nlist; i++)
		if (name_is_uid(users->list[i], p->uid))
			return true;
	for (i = 0; i < groups->nlist; i++)
		if (name_gid(groups->list[i], &gid) && peer_in_group(p, gid))
			return true;
	return false;
}

/*
 * May the peer open handles on the environment/role?  Its allow lists decide; when both
 * are empty, the default admits root, dbmd's own user and the socket's group (the
 * configured socket_group, else dbmd's group).
 */
bool
access_open_allowed(struct peer *p, const struct role_config *rc,
    const struct daemon_config *dc)
{
	gid_t gid;

	if (rc->allow_users.nlist > 0 || rc->allow_groups.nlist > 0)
		return listed(p, &rc->allow_users, &rc->allow_groups);
	if (p->uid == 0 || p->uid == geteuid())
		return true;
	if (dc->socket_group[0] != '\0')
		return name_gid(dc->socket_group, &gid) && peer_in_group(p, gid);
	return peer_in_group(p, getegid());
}

/* May the peer change the daemon's state (reload, dispose)?  Root and dbmd's user, or
 * the daemon's admin lists. */
bool
access_admin_allowed(struct peer *p, const struct daemon_config *dc)
{
	if (p->uid == 0 || p->uid == geteuid())
		return true;
	return listed(p, &dc->admin_users, &dc->admin_groups);
}
