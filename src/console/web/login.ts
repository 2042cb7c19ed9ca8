/**
 * Signing in (design §5, §8): GET /v1/session says who we are, or 401; then a form posts
 * {user, password} to /v1/session and the server sets the session cookie (HttpOnly, so the page
 * never sees it). EventSource cannot send headers, which is why the console uses the cookie.
 */

import type { SessionInfo } from "../model/api-shapes.js";
import { errorText, getJson, postJson } from "./api-client.js";
import { el } from "./dom.js";

export type SessionCheck = { signedIn: true; session: SessionInfo } | { signedIn: false; problem?: string };

export async function currentSession(): Promise<SessionCheck> {
  const answer = await getJson<SessionInfo>("/v1/session");
  if (answer.ok) return { signedIn: true, session: answer.body };
  if (answer.status === 401) return { signedIn: false };
  return { signedIn: false, problem: errorText(answer.error) };
}

/** Shows the form in `main` until a sign-in works; resolves with the session. */
export function signIn(main: HTMLElement, problem?: string): Promise<SessionInfo> {
  return new Promise((resolve) => {
    const user = el("input", {
      attrs: { id: "login-user", name: "user", autocomplete: "username", required: "" },
    });
    const password = el("input", {
      attrs: {
        id: "login-password",
        name: "password",
        type: "password",
        autocomplete: "current-password",
        required: "",
      },
    });
    const message = el("p", { class: "error", attrs: { id: "login-error", role: "alert" } }, [problem ?? ""]);
    const submit = el("button", { class: "primary", attrs: { type: "submit" } }, ["Sign in"]);
    const form = el("form", { class: "login", attrs: { "aria-labelledby": "login-title" } }, [
      el("h1", { attrs: { id: "login-title" } }, ["Sign in"]),
      el("p", { class: "field" }, [el("label", { attrs: { for: "login-user" } }, ["User"]), user]),
      el("p", { class: "field" }, [
        el("label", { attrs: { for: "login-password" } }, ["Password"]),
        password,
      ]),
      message,
      submit,
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit.disabled = true;
      message.textContent = "";
      void (async () => {
        const posted = await postJson("/v1/session", { user: user.value, password: password.value });
        if (posted.ok) {
          const check = await currentSession();
          if (check.signedIn) {
            resolve(check.session);
            return;
          }
          message.textContent =
            check.problem ?? "signed in, but the session was not kept (are cookies blocked?)";
        } else {
          message.textContent =
            posted.status === 401 ? "Wrong user or password." : `Cannot sign in: ${errorText(posted.error)}`;
        }
        password.value = "";
        submit.disabled = false;
        password.focus();
      })();
    });
    main.replaceChildren(form);
    user.focus();
  });
}
