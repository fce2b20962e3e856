/* core/em.c — EM: the vCPU threads and the stop-the-world protocol.
 *
 * Each vCPU thread loops: if EM wants it parked, it parks; otherwise it runs the engine until an
 * exit. em_pause sets the wish, then kicks every vCPU (the engine's kick flag plus SIGUSR1, which
 * interrupts a vCPU blocked in the guest) and waits until all are parked. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "em.h"
#include "err.h"
#include "hm.h"
#include "vm.h"

#define EM_KICK_SIGNAL SIGUSR1

enum em_want { EM_RUN, EM_PAUSE, EM_STOP };

struct em_vcpu {
    struct em *em;
    unsigned id;
    pthread_t thread;
    bool started;
};

struct em {
    struct vm *vm;
    struct hm *hm;
    unsigned ncpus;
    struct em_vcpu *vcpus;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum em_want want;
    unsigned parked;
};

/* The kick signal only has to interrupt a vCPU inside the guest; the handler itself does nothing. */
static void em_kick_handler(int sig)
{
    (void)sig;
}

int em_create(struct vm *vm, struct hm *hm, unsigned ncpus, struct em **out)
{
    struct em *em = calloc(1, sizeof(*em));
    if (!em || !(em->vcpus = calloc(ncpus, sizeof(*em->vcpus)))) {
        free(em);
        return -ENOMEM;
    }
    em->vm = vm;
    em->hm = hm;
    em->ncpus = ncpus;
    em->want = EM_RUN;
    pthread_mutex_init(&em->lock, NULL);
    pthread_cond_init(&em->cond, NULL);
    struct sigaction sa = {.sa_handler = em_kick_handler}; /* no SA_RESTART: entering the guest must return */
    sigemptyset(&sa.sa_mask);
    sigaction(EM_KICK_SIGNAL, &sa, NULL);
    *out = em;
    return 0;
}

/* Parks the calling vCPU while EM wants that (em->lock held); returns false when it must end. */
static bool em_park_if_wanted(struct em *em, struct em_vcpu *v)
{
    if (em->want == EM_RUN)
        return true;
    while (em->want == EM_PAUSE) {
        em->parked++;
        pthread_cond_broadcast(&em->cond);
        pthread_cond_wait(&em->cond, &em->lock);
        em->parked--;
    }
    hm_vcpu_kick(em->hm, v->id, false);
    return em->want != EM_STOP;
}

/* Waits (em->lock held) until EM wants something other than running: used after a fatal error. */
static void em_wait_for_change(struct em *em)
{
    while (em->want == EM_RUN)
        pthread_cond_wait(&em->cond, &em->lock);
}

/* The vCPU thread. */
static void *em_vcpu_thread(void *arg)
{
    struct em_vcpu *v = arg;
    struct em *em = v->em;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, EM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    for (;;) {
        pthread_mutex_lock(&em->lock);
        bool go_on = em_park_if_wanted(em, v);
        pthread_mutex_unlock(&em->lock);
        if (!go_on)
            break;
        switch (hm_vcpu_run(em->hm, v->id)) {
        case HM_EVENT_CONTINUE:
        case HM_EVENT_INTERRUPTED:
            break;
        case HM_EVENT_SHUTDOWN:
            vm_request(em->vm, MODVM_VM_REQ_RESET, 0);
            pthread_mutex_lock(&em->lock);
            em_wait_for_change(em);
            pthread_mutex_unlock(&em->lock);
            break;
        case HM_EVENT_FAILED:
            vm_fail(em->vm, "%s", modvm_err_get());
            pthread_mutex_lock(&em->lock);
            em_wait_for_change(em);
            pthread_mutex_unlock(&em->lock);
            break;
        }
    }
    pthread_mutex_lock(&em->lock);
    em->parked++; /* an ended thread counts as parked for em_pause */
    pthread_cond_broadcast(&em->cond);
    pthread_mutex_unlock(&em->lock);
    return NULL;
}

int em_start(struct em *em)
{
    for (unsigned i = 0; i < em->ncpus; i++) {
        struct em_vcpu *v = &em->vcpus[i];
        v->em = em;
        v->id = i;
        int rc = pthread_create(&v->thread, NULL, em_vcpu_thread, v);
        if (rc)
            return modvm_err_set(-rc, "cannot start the thread of vCPU %u: %s", i, strerror(rc));
        v->started = true;
    }
    return 0;
}

/* Asks every started vCPU to leave the guest (em->lock held). */
static void em_kick_all(struct em *em)
{
    for (unsigned i = 0; i < em->ncpus; i++) {
        if (!em->vcpus[i].started)
            continue;
        hm_vcpu_kick(em->hm, i, true);
        pthread_kill(em->vcpus[i].thread, EM_KICK_SIGNAL);
    }
    pthread_cond_broadcast(&em->cond);
}

/* Number of started vCPU threads. */
static unsigned em_started(const struct em *em)
{
    unsigned n = 0;
    for (unsigned i = 0; i < em->ncpus; i++)
        n += em->vcpus[i].started;
    return n;
}

void em_request_pause(struct em *em)
{
    pthread_mutex_lock(&em->lock);
    if (em->want == EM_RUN)
        em->want = EM_PAUSE;
    em_kick_all(em);
    pthread_mutex_unlock(&em->lock);
}

void em_pause(struct em *em)
{
    em_request_pause(em);
    pthread_mutex_lock(&em->lock);
    while (em->parked < em_started(em))
        pthread_cond_wait(&em->cond, &em->lock);
    pthread_mutex_unlock(&em->lock);
}

void em_resume(struct em *em)
{
    pthread_mutex_lock(&em->lock);
    if (em->want == EM_PAUSE)
        em->want = EM_RUN;
    pthread_cond_broadcast(&em->cond);
    pthread_mutex_unlock(&em->lock);
}

void em_destroy(struct em *em)
{
    if (!em)
        return;
    pthread_mutex_lock(&em->lock);
    em->want = EM_STOP;
    em_kick_all(em);
    pthread_mutex_unlock(&em->lock);
    for (unsigned i = 0; i < em->ncpus; i++)
        if (em->vcpus[i].started)
            pthread_join(em->vcpus[i].thread, NULL);
    pthread_cond_destroy(&em->cond);
    pthread_mutex_destroy(&em->lock);
    free(em->vcpus);
    free(em);
}
