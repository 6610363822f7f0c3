/**
 * Checks, before the first change, that the key's MISP user may do what the run needs. Pure: it
 * reads the `/users/view/me` reply and the settings.
 */
import type { RepublishMode } from './constants.ts';
import { type MispCurrentUser, toFlag, toId } from './misp-types.ts';

export interface UserPermissions {
  userId: string;
  email: string;
  orgId: string;
  orgName: string;
  roleName: string;
  siteAdmin: boolean;
  /** perm_modify_org: may edit every event of its organisation. */
  modifyOrg: boolean;
  /** perm_modify: may edit the events it created. */
  modify: boolean;
  publish: boolean;
}

export function readPermissions(user: MispCurrentUser): UserPermissions {
  const role = user.Role ?? {};
  const orgId = user.Organisation?.id ?? user.User?.org_id;
  return {
    userId: user.User?.id === undefined ? '' : String(user.User.id),
    email: user.User?.email ?? '',
    orgId: orgId === undefined ? '' : toId(orgId),
    orgName: user.Organisation?.name ?? '',
    roleName: role.name ?? '',
    siteAdmin: toFlag(role.perm_site_admin),
    modifyOrg: toFlag(role.perm_modify_org),
    modify: toFlag(role.perm_modify),
    publish: toFlag(role.perm_publish),
  };
}

/**
 * Lists what the user lacks for this run; empty when it may go on. A dry run changes nothing, so
 * it needs no permission beyond reading. An edit without the publish permission would leave
 * events unpublished, so publish is checked before the first edit.
 */
export function missingPermissions(permissions: UserPermissions, options: { dryRun: boolean; republish: RepublishMode }): string[] {
  if (options.dryRun || permissions.siteAdmin) return [];

  const role = `the MISP role "${permissions.roleName || 'unknown'}" of ${permissions.email || `user ${permissions.userId}`}`;
  const problems: string[] = [];
  if (!permissions.modify && !permissions.modifyOrg) {
    problems.push(
      `${role} lacks perm_modify_org (Modify Org) and perm_modify (Modify), so it cannot edit attributes: give the user a role such as "Org Admin" or "Publisher", or use dry-run: true.`,
    );
  }
  if (options.republish !== 'never' && !permissions.publish) {
    problems.push(
      `${role} lacks perm_publish (Publish), so demoted events would stay unpublished: give the user a role such as "Publisher", or set republish: never.`,
    );
  }
  return problems;
}
