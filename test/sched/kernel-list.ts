// A plain model of the kernel's struct list_head (include/linux/list.h) for reference schedulers in tests:
// a circular doubly-linked list with a head sentinel, list_add at the head, list_del_rcu keeping `next`.
import type { Dest } from '../../src/dest/dest.js';

export interface ListNode {
  dest: Dest | null;
  next: ListNode;
  prev: ListNode;
}

export class KernelList {
  readonly head: ListNode;

  constructor() {
    const head = { dest: null } as ListNode;
    head.next = head;
    head.prev = head;
    this.head = head;
  }

  /** list_add_rcu(&dest->n_list, &svc->destinations) */
  add(dest: Dest): ListNode {
    const node: ListNode = { dest, next: this.head.next, prev: this.head };
    this.head.next.prev = node;
    this.head.next = node;
    return node;
  }

  /** list_del_rcu(): unlinks, leaving node.next pointing into the list (the rr del_dest hook relies on it). */
  del(node: ListNode): void {
    node.prev.next = node.next;
    node.next.prev = node.prev;
  }

  find(dest: Dest): ListNode {
    for (let n = this.head.next; n !== this.head; n = n.next) if (n.dest === dest) return n;
    throw new Error('not in list');
  }

  dests(): Dest[] {
    const out: Dest[] = [];
    for (let n = this.head.next; n !== this.head; n = n.next) out.push(n.dest!);
    return out;
  }
}
