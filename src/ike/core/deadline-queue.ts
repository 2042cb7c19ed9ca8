/**
 * The next deadline of many items (IKE SAs) without scanning them all: a binary min-heap of
 * (deadline, item) entries with the current deadline per item in a map. Changing an item's
 * deadline pushes a new entry; entries that no longer match the map are skipped when they
 * surface, and the heap is rebuilt when stale entries outnumber live ones.
 */
export class DeadlineQueue<T> {
  private readonly current = new Map<T, number>();
  private heap: { at: number; item: T }[] = [];

  /** Sets (or, with undefined, clears) an item's deadline. */
  set(item: T, at: number | undefined): void {
    if (this.current.get(item) === at) return;
    if (at === undefined) {
      this.current.delete(item);
      return;
    }
    this.current.set(item, at);
    this.push({ at, item });
    if (this.heap.length > 2 * this.current.size + 64) this.rebuild();
  }

  /** The earliest deadline, if any. */
  next(): number | undefined {
    this.dropStale();
    return this.heap[0]?.at;
  }

  /** Removes and returns the items whose deadline is at or before `now`. */
  takeDue(now: number): T[] {
    const due: T[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now) return due;
      this.pop();
      this.current.delete(top.item);
      due.push(top.item);
    }
  }

  get size(): number {
    return this.current.size;
  }

  private dropStale(): void {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (this.current.get(top.item) === top.at) return;
      this.pop();
    }
  }

  private rebuild(): void {
    this.heap = [];
    for (const [item, at] of this.current) this.push({ at, item });
  }

  private push(entry: { at: number; item: T }): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (heap.length === 0 || !last) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= last.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
