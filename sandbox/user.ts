/**
 * The one user the sandbox key belongs to: by default a site admin of organisation 1, like the
 * admin user MISP creates on install. Role permissions can be overridden to test a key that, for
 * example, may edit but not publish.
 */
import type { Store } from './store.ts';

export interface SandboxUser {
  id: number;
  orgId: number;
  email: string;
  /** Role fields as /users/view/me returns them; permissions are the perm_* booleans. */
  role: Record<string, unknown>;
}

export interface SandboxUserOptions {
  /** Role fields to override, such as { perm_publish: false } or { perm_site_admin: false }. */
  role?: Partial<Record<string, boolean>>;
}

// The admin role of a fresh MISP 2.5.1 install, as /users/view/me returned it.
const ADMIN_ROLE: Record<string, unknown> = {
  id: '1',
  name: 'admin',
  created: '2026-12-04 19:26:51',
  modified: '2026-12-04 19:26:51',
  perm_add: true,
  perm_modify: true,
  perm_modify_org: true,
  perm_publish: true,
  perm_delegate: true,
  perm_sync: true,
  perm_admin: true,
  perm_audit: true,
  perm_auth: true,
  perm_site_admin: true,
  perm_regexp_access: true,
  perm_tagger: true,
  perm_template: true,
  perm_sharing_group: true,
  perm_tag_editor: true,
  perm_sighting: true,
  perm_object_template: true,
  default_role: false,
  memory_limit: null,
  max_execution_time: null,
  restricted_to_site_admin: false,
  perm_publish_zmq: true,
  perm_publish_kafka: true,
  perm_decaying: true,
  enforce_rate_limit: false,
  rate_limit_count: '0',
  perm_galaxy_editor: true,
  perm_warninglist: true,
  perm_view_feed_correlations: true,
  perm_analyst_data: true,
  perm_skip_otp: false,
  permission: '3',
  permission_description: 'publish',
};

export function createUser(options: SandboxUserOptions = {}): SandboxUser {
  const role = { ...ADMIN_ROLE };
  for (const [name, value] of Object.entries(options.role ?? {})) {
    if (!(name in ADMIN_ROLE) || typeof ADMIN_ROLE[name] !== 'boolean') {
      throw new TypeError(`user.role.${name} is not a MISP role permission; use one of ${permissionNames().join(', ')}`);
    }
    if (typeof value !== 'boolean') throw new TypeError(`user.role.${name} must be true or false, got ${JSON.stringify(value)}`);
    role[name] = value;
  }
  return { id: 1, orgId: 1, email: 'admin@admin.test', role };
}

function permissionNames(): string[] {
  return Object.keys(ADMIN_ROLE).filter((name) => typeof ADMIN_ROLE[name] === 'boolean');
}

export function hasPermission(user: SandboxUser, permission: string): boolean {
  return user.role[permission] === true;
}

export function isSiteAdmin(user: SandboxUser): boolean {
  return hasPermission(user, 'perm_site_admin');
}

/** Builds the /servers/getVersion reply of MISP 2.5.1; the perm_* flags follow the user's role. */
export function versionReply(user: SandboxUser): Record<string, unknown> {
  return {
    version: '2.5.1',
    pymisp_recommended_version: '2.5.1',
    perm_sync: hasPermission(user, 'perm_sync'),
    perm_sighting: hasPermission(user, 'perm_sighting'),
    perm_galaxy_editor: hasPermission(user, 'perm_galaxy_editor'),
    perm_analyst_data: hasPermission(user, 'perm_analyst_data'),
    uuid: '92069cf7-9552-425b-982b-ddf66fe6c165',
    request_encoding: ['gzip'],
    filter_sightings: true,
  };
}

/** Builds the /users/view/me reply, shaped like MISP 2.5.1's for its install admin. */
export function userReply(user: SandboxUser, store: Store): Record<string, unknown> {
  const org = store.org(user.orgId);
  return {
    User: {
      id: String(user.id),
      password: '*****',
      org_id: String(user.orgId),
      email: user.email,
      autoalert: false,
      invited_by: '0',
      gpgkey: null,
      certif_public: '',
      nids_sid: '4000000',
      termsaccepted: false,
      newsread: '0',
      role_id: user.role.id,
      change_pw: false,
      contactalert: false,
      disabled: false,
      expiration: null,
      current_login: '0',
      last_login: '0',
      force_logout: false,
      date_created: null,
      date_modified: '0',
      sub: null,
      external_auth_required: false,
      external_auth_key: null,
      last_api_access: '0',
      notification_daily: false,
      notification_weekly: false,
      notification_monthly: false,
      totp: '*****',
      hotp_counter: null,
      last_pw_change: null,
      totp_is_set: '0',
    },
    Role: { ...user.role },
    UserSetting: [],
    Organisation: {
      id: String(user.orgId),
      name: org?.name ?? 'ORGNAME',
      date_created: '2026-12-04 19:27:32',
      date_modified: '2026-12-04 19:27:32',
      description: 'Automatically generated admin organisation',
      type: 'ADMIN',
      nationality: '',
      sector: '',
      created_by: '0',
      uuid: org?.uuid ?? '',
      contacts: null,
      local: org?.local ?? true,
      restricted_to_domain: null,
      landingpage: null,
    },
  };
}
