/**
 * The confirmation before an action (design §8): a modal <dialog> (showModal keeps focus inside
 * and Esc cancels) with the question from action-model.ts, Cancel focused first so Enter alone
 * never acts, and for a move a labelled <select> of the nodes it may go to. Resolves with the
 * choice; the caller posts the action.
 */

import { el } from "./dom.js";

export interface DialogRequest {
  /** The dialog's heading, e.g. "Move web". */
  title: string;
  /** The question; for a move, built from the chosen node. */
  question: (node: string | undefined) => string;
  /** The confirming button's text, e.g. "Move". */
  confirmLabel: string;
  /**
   * For a move: the nodes, the first one it may go to preselected; those it may not go to now
   * are listed (disabled) with the reason, so the user sees why.
   */
  nodes?: readonly { node: string; eligible: boolean; why?: string | undefined }[];
  nodeLabel?: string;
}

export type DialogAnswer = { confirmed: false } | { confirmed: true; node: string | undefined };

export function askConfirmation(request: DialogRequest): Promise<DialogAnswer> {
  const dialog = el("dialog", {
    class: "confirm",
    attrs: { "aria-labelledby": "dialog-title", "aria-describedby": "dialog-question" },
  });
  const question = el("p", { attrs: { id: "dialog-question" } });
  let select: HTMLSelectElement | undefined;
  if (request.nodes !== undefined) {
    select = el("select", { attrs: { id: "dialog-node" } }, [
      ...request.nodes.map((choice) => {
        const option = el("option", { attrs: { value: choice.node } }, [
          choice.eligible ? choice.node : `${choice.node} (not now: ${choice.why ?? "not eligible"})`,
        ]);
        option.disabled = !choice.eligible;
        return option;
      }),
    ]);
    const first = request.nodes.find((c) => c.eligible);
    if (first !== undefined) select.value = first.node;
  }
  const update = (): void => {
    question.textContent = request.question(select?.value);
  };
  update();
  select?.addEventListener("change", update);

  const cancel = el("button", { class: "secondary", attrs: { type: "button", autofocus: "" } }, ["Cancel"]);
  const confirm = el("button", { class: "primary", attrs: { type: "button" } }, [request.confirmLabel]);
  dialog.append(
    el("h2", { attrs: { id: "dialog-title" } }, [request.title]),
    select
      ? el("p", { class: "field" }, [
          el("label", { attrs: { for: "dialog-node" } }, [request.nodeLabel ?? "Node"]),
          select,
        ])
      : "",
    question,
    el("div", { class: "dialog-buttons" }, [cancel, confirm]),
  );

  return new Promise((resolve) => {
    let answer: DialogAnswer = { confirmed: false };
    cancel.addEventListener("click", () => dialog.close());
    confirm.addEventListener("click", () => {
      answer = { confirmed: true, node: select?.value };
      dialog.close();
    });
    // Esc fires "cancel" and closes; every way out ends here.
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
