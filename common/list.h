/* Intrusive doubly linked list: a node embedded in the owning struct. */
#ifndef SSE_LIST_H
#define SSE_LIST_H

#include <stddef.h>

typedef struct list_s {
    struct list_s *prev; /* previous node, or the head sentinel */
    struct list_s *next; /* next node, or the head sentinel */
} list_t;

#define list_entry(node, type, field) ((type *)((char *)(node) - offsetof(type, field)))

/* A head is a sentinel node; an unlinked node points to itself. */
static inline void list_init(list_t *n)
{
    n->prev = n->next = n;
}

static inline int list_empty(const list_t *head)
{
    return head->next == head;
}

/* Appends n at the tail of head. n must be unlinked. */
static inline void list_push_back(list_t *head, list_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Unlinks n (a no-op on an unlinked node) and leaves it unlinked. */
static inline void list_remove(list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#endif
