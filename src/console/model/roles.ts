/**
 * The API roles as the browser sees them (config/api-model.ts ApiRole, Serviceguard's access
 * control policy roles). Restated rather than imported so the browser build reaches no Node code;
 * action-model.test.ts pins the two to the same names.
 */
export type ApiRoleName = "monitor" | "package_admin" | "full_admin";

export const API_ROLE_NAMES: readonly ApiRoleName[] = ["monitor", "package_admin", "full_admin"];
