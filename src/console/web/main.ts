/**
 * The web console (design §8): signs in, opens the live stream and draws the page for the
 * route in the hash (`#/` map, `#/packages/{p}` one package, `#/events` the timeline). Every
 * status and event from the stream redraws the page at once; nothing polls.
 *
 * Stable names for tests and assistive technology (keep them when changing the page):
 *   - navigation: `nav[aria-label="Console"]` with links "Map" (#/) and "Events" (#/events)
 *   - node column: `section[aria-label="<node>"]` (role region named after the node, e.g. "n1");
 *     inside it the state badge text "up"/"halted"/"failed", a "leader" badge on the leader,
 *     and for a full admin a button "Halt node" or "Run node"
 *   - package card (map, inside its node's column or in the "Not running" region):
 *     `article[aria-label="package <name>"]` (role article, e.g. "package web") with a link
 *     named after the package, its state badge text, addresses as "198.18.1.50 on lan0 (public)",
 *     and the action buttons this user may use: "Run", "Halt", "Move…", "Enable switching",
 *     "Disable switching", "Start maintenance", "End maintenance" (buttons a user may not use
 *     are not rendered)
 *   - package page: heading "Package <name>", region "Actions on <name>" with the same buttons,
 *     tables captioned "Addresses", "Services", "Generic resources", "Dependencies", "Peers",
 *     "Security associations"; a "Show log"/"Refresh log" button for package admins
 *   - confirmation: role dialog named after its heading ("Move: web", "Halt: web",
 *     "Halt node: n2"), the question as its description, for a move a select labelled
 *     "Move to node" (role combobox; the first eligible node preselected, nodes it may not go
 *     to now listed disabled as "n1 (not now: <reason>)"), and buttons "Cancel" (focused
 *     first) and the action ("Move", "Halt", …); Esc cancels
 *   - the action's outcome: `#action-result` (role status, aria-live polite), e.g. "Accepted:
 *     pavise pkg move web --node n3 …" or "Not done: <API message> (<hint>)"
 *   - lost connection: `#connection-banner` (role alert) "Connection to this node lost …" with
 *     links to the other nodes' consoles (GET /v1/cluster apiNodes)
 *   - timeline: heading "Events", selects labelled "Package" and "Kind", a list named
 *     "Events, newest first" whose items carry data-revision; on the map the last five events
 *     in a list named "Recent events, newest first"; a button "N new" when scrolled away
 *   - sign in: form named "Sign in", inputs labelled "User" and "Password", button "Sign in";
 *     once signed in the header shows "<user> (<role>)" and a "Sign out" button
 */

import type { EventView, StatusView } from "../../api/schema/view-types.js";
import type {
  ClusterInfo,
  NodeDetail,
  OperatorResult,
  PackageDetail,
  PackageIpsecDetail,
  NodeChoice,
  PackageLog,
  SessionInfo,
} from "../model/api-shapes.js";
import {
  type NodeActionKind,
  type PackageActionKind,
  type ActionRequest,
  moveChoices,
  nodeActions,
  nodeConfirmText,
  nodeRequest,
  packageActions,
  packageConfirmText,
  packageRequest,
} from "../model/action-model.js";
import { mergeEvents, relativeTime, type TimelineFilter } from "../model/timeline-model.js";
import { askConfirmation } from "./action-dialog.js";
import { deleteCall, errorText, getJson, postJson } from "./api-client.js";
import { byId, el } from "./dom.js";
import { LiveStream } from "./live-stream.js";
import { currentSession, signIn } from "./login.js";
import { type ActionHandlers, renderMap } from "./render-map.js";
import { renderPackage } from "./render-package.js";
import { renderTimeline } from "./render-timeline.js";

type Route = { page: "map" } | { page: "events" } | { page: "package"; name: string } | { page: "unknown" };

interface PackagePage {
  name: string;
  detail: PackageDetail | undefined;
  ipsec: PackageIpsecDetail | undefined;
  log: PackageLog | undefined;
  logError: string | undefined;
}

const main = byId("main");
const banner = byId("connection-banner");
const result = byId("action-result");
const announcer = byId("event-announcer");
const sessionBox = byId("session");

let session: SessionInfo | undefined;
let view: StatusView | undefined;
let events: EventView[] = [];
let nodes: NodeDetail[] = [];
/** GET /v1/packages: each package's node_name list with eligibility (nodeChoices), for the Move dialog. */
let packageDetails: PackageDetail[] = [];
let apiNodes: ClusterInfo["apiNodes"] = [];
let route: Route = parseRoute(location.hash) ?? { page: "map" };
let packagePage: PackagePage | undefined;
let filter: TimelineFilter = {};
let unseen = 0;
/** The node answering this page (GET /v1/status `servedBy`), left out of the other consoles' list. */
let servedBy: string | undefined;

const stream = new LiveStream("/v1/stream", {
  snapshot(data) {
    // The first message, and again after a reset: it replaces what the page shows.
    view = data.status;
    events = mergeEvents([], data.events);
    changed();
  },
  status(latest) {
    view = latest;
    changed();
  },
  event(event) {
    events = mergeEvents(events, [event]);
    if (route.page === "events") {
      if (window.scrollY > 80) unseen += 1;
      announce(event);
    }
    scheduleRender();
  },
  lost: showConnectionLost,
  restored() {
    banner.hidden = true;
    banner.replaceChildren();
  },
  closed() {
    // The server ended the stream: a lapsed session shows the sign-in form again.
    void currentSession().then((check) => {
      if (!check.signedIn && check.problem === undefined) location.reload();
    });
  },
});

void start();

async function start(): Promise<void> {
  byId("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  const check = await currentSession();
  session = check.signedIn ? check.session : await signIn(main, check.problem);
  showSession();
  main.replaceChildren(el("p", {}, ["Loading the cluster…"]));
  window.addEventListener("hashchange", () => {
    const next = parseRoute(location.hash);
    if (next === undefined) return; // an in-page anchor, not a route
    route = next;
    unseen = 0;
    enterRoute();
    render();
    byId("main").querySelector<HTMLElement>("h1")?.focus();
  });
  stream.open();
  // One read to paint before the stream's snapshot; afterwards only the stream updates it.
  const [status, cluster] = await Promise.all([
    getJson<StatusView>("/v1/status"),
    getJson<ClusterInfo>("/v1/cluster"),
  ]);
  if (!status.ok && view === undefined) {
    main.replaceChildren(
      el("h1", {}, ["Cannot read the cluster"]),
      el("p", { class: "error" }, [errorText(status.error)]),
      el("p", {}, ["The page shows the cluster as soon as this node can read it again."]),
    );
  }
  if (status.ok) {
    const served = (status.body as StatusView & { servedBy?: unknown }).servedBy;
    if (typeof served === "string") servedBy = served;
    view ??= status.body;
  }
  if (cluster.ok) apiNodes = cluster.body.apiNodes ?? [];
  void readDetails();
  enterRoute();
  render();
  // Relative times ("3 s ago") age on the page without a redraw.
  setInterval(refreshTimes, 10_000);
  window.addEventListener("scroll", () => {
    if (window.scrollY <= 80 && unseen > 0) {
      unseen = 0;
      scheduleRender();
    }
  });
}

function parseRoute(hash: string): Route | undefined {
  if (hash === "" || hash === "#" || hash === "#/") return { page: "map" };
  if (!hash.startsWith("#/")) return undefined;
  if (hash === "#/events") return { page: "events" };
  const match = /^#\/packages\/([^/]+)$/.exec(hash);
  if (match) {
    try {
      return { page: "package", name: decodeURIComponent(match[1]!) };
    } catch {
      return { page: "unknown" };
    }
  }
  return { page: "unknown" };
}

/** Reads what a page needs beyond the stream: the package's detail on its page. */
function enterRoute(): void {
  if (route.page === "package") {
    if (packagePage?.name !== route.name) {
      packagePage = {
        name: route.name,
        detail: undefined,
        ipsec: undefined,
        log: undefined,
        logError: undefined,
      };
    }
    void readPackage(route.name);
  } else {
    packagePage = undefined;
  }
}

/** After a new status: the parts not in the stream (NICs, per-node services) are read again, at most once a second. */
let detailTimer: ReturnType<typeof setTimeout> | undefined;
function changed(): void {
  scheduleRender();
  if (detailTimer !== undefined) return;
  detailTimer = setTimeout(() => {
    detailTimer = undefined;
    void readDetails();
    if (route.page === "package") void readPackage(route.name);
  }, 1000);
}

/** The parts of nodes and packages the stream does not carry: NICs, configured nodes. */
async function readDetails(): Promise<void> {
  const [nodeAnswer, packageAnswer, clusterAnswer] = await Promise.all([
    getJson<NodeDetail[] | { nodes: NodeDetail[] }>("/v1/nodes"),
    getJson<PackageDetail[] | { packages: PackageDetail[] }>("/v1/packages"),
    getJson<ClusterInfo>("/v1/cluster"),
  ]);
  if (nodeAnswer.ok) nodes = listOf(nodeAnswer.body, "nodes");
  if (packageAnswer.ok) packageDetails = listOf(packageAnswer.body, "packages");
  // Which other nodes serve a console, kept fresh while this node answers (for the lost-connection banner).
  if (clusterAnswer.ok) apiNodes = clusterAnswer.body.apiNodes ?? apiNodes;
  scheduleRender();
}

/** A list answer, bare or wrapped in an object under `key`. */
function listOf<T>(body: T[] | Record<string, T[] | undefined> | undefined, key: string): T[] {
  if (Array.isArray(body)) return body;
  return body?.[key] ?? [];
}

function nodeChoicesOf(name: string): NodeChoice[] | undefined {
  const fromPage = packagePage?.name === name ? packagePage.detail?.nodeChoices : undefined;
  return fromPage ?? packageDetails.find((p) => p.name === name)?.nodeChoices;
}

async function readPackage(name: string): Promise<void> {
  const path = `/v1/packages/${encodeURIComponent(name)}`;
  const detail = await getJson<PackageDetail>(path);
  const page = packagePage;
  if (page === undefined || page.name !== name) return;
  if (detail.ok) page.detail = detail.body;
  const pkg = view?.packages.find((p) => p.name === name);
  if (pkg?.ipsec !== undefined) {
    const ipsec = await getJson<PackageIpsecDetail>(`${path}/ipsec`);
    if (ipsec.ok && packagePage === page) page.ipsec = ipsec.body;
  }
  scheduleRender();
}

async function readLog(name: string): Promise<void> {
  // Where it runs; a package that runs nowhere: the first node of its list (the server needs ?node= then).
  const pkg = view?.packages.find((p) => p.name === name);
  const node = pkg && pkg.nodes.length === 0 ? nodeChoicesOf(name)?.[0]?.node : undefined;
  const query = `lines=200${node !== undefined ? `&node=${encodeURIComponent(node)}` : ""}`;
  const answer = await getJson<PackageLog>(`/v1/packages/${encodeURIComponent(name)}/log?${query}`);
  const page = packagePage;
  if (page === undefined || page.name !== name) return;
  page.log = answer.ok ? answer.body : page.log;
  page.logError = answer.ok ? undefined : `Cannot read the log: ${errorText(answer.error)}`;
  render();
}

let renderQueued = false;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

const actionHandlers: ActionHandlers = {
  packageAction: (kind, pkg, opener) => void packageAction(kind, pkg, opener),
  nodeAction: (kind, node, opener) => void nodeAction(kind, node, opener),
};

/** Draws the current route, keeping focus on the same control (by its data-focus-key) across the redraw. */
function render(): void {
  const focusKey = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
  const now = Date.now();
  const title = byId("cluster-name");
  title.textContent = view ? view.cluster.name : "";
  if (view === undefined) return;
  let content: HTMLElement[];
  if (route.page === "map") {
    content = renderMap(view, nodes, session, events, now, actionHandlers, nodeChoicesOf);
    document.title = `Map · ${view.cluster.name} · Pavise`;
  } else if (route.page === "events") {
    content = renderTimeline(events, now, {
      filter,
      unseen,
      onFilter(next) {
        filter = next;
        render();
      },
      onShowNew() {
        unseen = 0;
        render();
        window.scrollTo({ top: 0 });
        main.querySelector<HTMLElement>("h1")?.focus();
      },
    });
    document.title = `Events · ${view.cluster.name} · Pavise`;
  } else if (route.page === "package") {
    const name = route.name;
    const pkg = view.packages.find((p) => p.name === name);
    const page = packagePage;
    content =
      pkg && page
        ? renderPackage(
            { view, pkg, ...page, session, events, now },
            actionHandlers,
            () => void readLog(name),
          )
        : notFound(`There is no package named ${name}.`);
    document.title = `${name} · ${view.cluster.name} · Pavise`;
  } else {
    content = notFound("There is no such page.");
  }
  for (const h1 of content.filter((n) => n.tagName === "H1")) h1.tabIndex = -1;
  markCurrentPage();
  main.replaceChildren(...content);
  if (focusKey !== undefined)
    main.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

/** The navigation link of the page shown says so to assistive technology (aria-current). */
function markCurrentPage(): void {
  const current = route.page === "events" ? "#/events" : route.page === "map" ? "#/" : undefined;
  for (const link of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    if (link.getAttribute("href") === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function notFound(message: string): HTMLElement[] {
  return [
    el("h1", {}, ["Not found"]),
    el("p", {}, [message, " ", el("a", { attrs: { href: "#/" } }, ["Back to the map"])]),
  ];
}

function refreshTimes(): void {
  const now = Date.now();
  for (const time of main.querySelectorAll<HTMLTimeElement>("time.when")) {
    const at = Date.parse(time.dateTime);
    if (!Number.isNaN(at)) time.textContent = relativeTime(at, now);
  }
}

function showSession(): void {
  if (session === undefined) return;
  const signOut = el("button", { class: "secondary", attrs: { type: "button" } }, ["Sign out"]);
  signOut.addEventListener("click", () => {
    void deleteCall("/v1/session").then(() => location.reload());
  });
  sessionBox.replaceChildren(
    el("span", {}, [`${session.user} (${session.role ?? "no role"})`]),
    " ",
    signOut,
  );
}

function showConnectionLost(): void {
  const here = location.origin;
  // The node that served the page is the one we lost.
  const lost = servedBy;
  const others = apiNodes.filter((n) => {
    if (n.node === lost) return false;
    try {
      return new URL(n.url, here).origin !== here;
    } catch {
      return false;
    }
  });
  banner.replaceChildren(
    el("p", {}, [
      el("strong", {}, ["Connection to this node lost."]),
      " The page shows the last state it received and reconnects by itself.",
    ]),
    others.length > 0
      ? el("p", {}, [
          "Other nodes' consoles: ",
          ...others.flatMap((n, i) => [
            i > 0 ? ", " : "",
            el("a", { attrs: { href: new URL("/", n.url).href } }, [`${n.node} (${n.url})`]),
          ]),
        ])
      : el("p", {}, ["No other node's console address is known."]),
  );
  banner.hidden = false;
}

/** New events said aloud on the timeline page, at most one announcement a second (design §8). */
let pendingAnnouncements: EventView[] = [];
let announceTimer: ReturnType<typeof setTimeout> | undefined;
function announce(event: EventView): void {
  pendingAnnouncements.push(event);
  if (announceTimer !== undefined) return;
  announceTimer = setTimeout(() => {
    announceTimer = undefined;
    const batch = pendingAnnouncements;
    pendingAnnouncements = [];
    const last = batch.at(-1)!;
    const text = `${last.node}: ${last.message}`;
    announcer.textContent =
      batch.length > 1 ? `${batch.length} new events, the last: ${text}` : `New event: ${text}`;
  }, 1000);
}

async function packageAction(kind: PackageActionKind, name: string, opener: HTMLElement): Promise<void> {
  const pkg = view?.packages.find((p) => p.name === name);
  if (view === undefined || pkg === undefined) return;
  const choices = nodeChoicesOf(name);
  const label = packageActions(session, pkg, view, choices).find((a) => a.kind === kind)?.label ?? kind;
  const verb = label.replace("…", "");
  const answer = await askConfirmation({
    title: `${verb}: ${name}`,
    question: (node) => packageConfirmText(kind, pkg, node),
    confirmLabel: verb,
    ...(kind === "move" ? { nodes: moveChoices(pkg, view, choices), nodeLabel: "Move to node" } : {}),
  });
  restoreFocus(opener);
  if (!answer.confirmed) return;
  await send(packageRequest(kind, name, answer.node), `${verb} ${name}`);
}

async function nodeAction(kind: NodeActionKind, node: string, opener: HTMLElement): Promise<void> {
  const nodeView = view?.nodes.find((n) => n.name === node);
  if (nodeView === undefined) return;
  const label = nodeActions(session, nodeView).find((a) => a.kind === kind)?.label ?? kind;
  const answer = await askConfirmation({
    title: `${label}: ${node}`,
    question: () => nodeConfirmText(kind, node),
    confirmLabel: label,
  });
  restoreFocus(opener);
  if (!answer.confirmed) return;
  await send(nodeRequest(kind, node), `${label} ${node}`);
}

/** Posts the action (wait: false) and says in the status region what the node answered. */
async function send(request: ActionRequest, what: string): Promise<void> {
  result.dataset.outcome = "sending";
  result.textContent = `${what}: sending…`;
  const reply = await postJson<OperatorResult>(request.path, request.body);
  result.dataset.outcome = reply.ok ? "accepted" : "refused";
  if (reply.ok) {
    const command = reply.body?.command ?? what;
    result.textContent = `Accepted: ${command}. Its progress shows in the events.`;
  } else if (reply.status === 401) {
    result.textContent = "Not done: the session ended. Sign in again.";
    location.reload();
  } else {
    result.textContent = `Not done: ${errorText(reply.error)}`;
  }
}

/** Back to the button that opened the dialog, or its replacement after a redraw. */
function restoreFocus(opener: HTMLElement): void {
  const key = opener.dataset.focusKey;
  const target = opener.isConnected
    ? opener
    : key !== undefined
      ? main.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(key)}"]`)
      : null;
  target?.focus();
}
