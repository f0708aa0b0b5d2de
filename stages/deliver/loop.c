/*
 * loop — the deliver stage's single-threaded event loop.
 *
 * One thread drives everything: the task consumer, the retry-tier consumer
 * (delayq), the libcurl multi handle and the producer's delivery reports.
 * librdkafka writes a byte into a pipe whenever one of its queues goes from
 * empty to non-empty, and that pipe is one of the descriptors the sender's
 * engine waits on beside curl's sockets,
 * so the loop sleeps until a transfer, a record or an ack needs it — no
 * busy loop, and no added latency.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "delayq.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "shutdown.h"

/* The longest the loop sleeps: records, transfers and acks wake it at once,
 * and a parked tier partition wakes it when its head falls due
 * (delayq_next_due_in); this only bounds how soon a stop signal is seen. */
#define LOOP_MAX_WAIT_MS 100

static struct metric *m_delivered, *m_retrying, *m_dead, *m_deferred, *m_latency, *m_in_flight,
    *m_waiting, *m_parked_parts;

static void metrics_register(void)
{
    const char *help = "Webhook attempts by outcome";
    m_delivered = metric_counter("ferry_deliver_attempts_total", help, "outcome=\"delivered\"");
    m_retrying = metric_counter("ferry_deliver_attempts_total", help, "outcome=\"retrying\"");
    m_dead = metric_counter("ferry_deliver_attempts_total", help, "outcome=\"dead\"");
    m_deferred =
        metric_counter("ferry_deliver_deferred_total",
                       "Tasks moved to the first tier unattempted: their host was saturated", "");
    m_latency = metric_histogram("ferry_deliver_latency_seconds", "Webhook attempt latency", "",
                                 metric_latency_bounds, metric_latency_n);
    m_in_flight = metric_gauge("ferry_deliver_in_flight", "Webhook POSTs in flight", "");
    m_waiting = metric_gauge("ferry_deliver_waiting",
                             "Tasks queued behind their host's concurrency cap", "");
    m_parked_parts = metric_gauge("ferry_deliver_parked_partitions",
                                  "Retry-tier partitions held until their head is due", "");
}

/* Records waiting in the tiers: for each assigned tier partition, the high
 * watermark minus the consumer's position. Asked of the broker at scrape
 * time, since a paused partition's cached watermark goes stale. */
static double parked_records(void *arg)
{
    struct deliver_loop *l = arg;
    rd_kafka_t *rk = delayq_consumer(l->cs.dq);
    rd_kafka_topic_partition_list_t *parts = NULL;
    double total = 0;
    if (rd_kafka_assignment(rk, &parts) || !parts)
        return 0;
    rd_kafka_position(rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, parts->elems[i].topic, parts->elems[i].partition,
                                             &lo, &hi, 500))
            continue;
        int64_t pos = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
        if (hi > pos)
            total += (double)(hi - pos);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return total;
}

/* ---- jobs back from the recorder: their writes are durable ---------------- */

static void on_recorded(struct job *job, void *arg)
{
    struct deliver_loop *l = arg;
    if (!job->write_failed)
        offtrack_done(job->ot, job->src_topic, job->src_partition, job->src_offset);
    else
        LOG_ERROR("offset_held",
                  "topic=%s partition=%d offset=%lld why=\"a write failed; "
                  "the task is redone after a restart\"",
                  job->src_topic, (int)job->src_partition, (long long)job->src_offset);
    l->alive--;
    job_free(job);
}

/* ---- jobs back from the sender: an attempt finished ----------------------- */

static void on_attempted(struct job *job, void *arg)
{
    struct deliver_loop *l = arg;
    task_verdict(job, &l->pol, clk_now_ms());
    metric_observe(m_latency, job->latency_ms / 1000.0);
    metric_inc(job->verdict == VERDICT_DELIVERED ? m_delivered
               : job->verdict == VERDICT_RETRY   ? m_retrying
                                                 : m_dead,
               1);
    if (job->verdict != VERDICT_DELIVERED || log_enabled(LOG_DEBUG)) {
        char err[DELIVER_ERR_LEN + 8];
        LOG_AT(job->verdict == VERDICT_DELIVERED ? LOG_DEBUG : LOG_INFO, "attempt",
               "delivery=%s batch=%s attempt=%d status=%ld ms=%ld outcome=%s error=%s",
               job->delivery_id, job->batch_id, job->attempt, job->status, job->latency_ms,
               job->verdict == VERDICT_DELIVERED ? "delivered"
               : job->verdict == VERDICT_RETRY   ? "retrying"
                                                 : "dead",
               log_quote(err, sizeof(err), job->error[0] ? job->error : "-"));
    }
    recorder_write(l->rec, job);
}

/* ---- intake: shared/consume.c's, driven without waiting ------------------ */

/* consume's take: one task or due retry (msg is ours to destroy). */
static void take(void *arg, rd_kafka_message_t *msg, struct offtrack *ot)
{
    struct deliver_loop *l = arg;
    char errstr[DELIVER_ERR_LEN];
    offtrack_begin(ot, msg);
    struct job *job = calloc(1, sizeof(*job));
    if (!job)
        abort();
    job->ot = ot;
    l->alive++;
    if (task_parse(job, msg, &l->pol, errstr, sizeof(errstr))) {
        /* A task that can never be sent: dead letters at once, and an
         * attempt record when it names its delivery, so the user sees why. */
        LOG_WARN("task_invalid", "topic=%s partition=%d offset=%lld why=\"%s\"", job->src_topic,
                 (int)job->src_partition, (long long)job->src_offset, errstr);
        snprintf(job->error, sizeof(job->error), "%s", errstr);
        job->final = 1;
        job->verdict = VERDICT_DEAD;
        if (job->delivery_id && job->batch_id && job->event && job->url)
            job->start_ms = clk_now_ms();
        metric_inc(m_dead, 1);
        recorder_write(l->rec, job);
        rd_kafka_message_destroy(msg);
        return;
    }
    rd_kafka_message_destroy(msg);

    /* A host whose queue would hold the task this long is hanging or far
     * too slow: park the task in the first tier, unattempted, rather than
     * let that host fill the memory every other host needs (it may keep an
     * eighth of it queued). */
    if (sender_host_saturated(l->snd, job->x.hostkey, l->host_max_wait_ms, l->max_pending / 8)) {
        metric_inc(m_deferred, 1);
        recorder_defer(l->rec, job, clk_now_ms() + l->pol.tier_ms[0]);
        return;
    }
    sender_submit(l->snd, job);
}

static void wake_drain(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void on_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct deliver_loop *l = opaque;
    recorder_dr(rk, msg, l->rec);
}

int deliver_loop_open_intake(struct deliver_loop *l, const struct stage *st, char *errstr,
                             size_t errstr_size)
{
    const struct consume_conf cc = {
        .stage = "deliver",
        .topic = topic_name(l->topics, TOPIC_WEBHOOKS),
        .tiers = l->topics->webhook_tier,
        .n_tiers = l->topics->n_webhook_tiers,
        .default_fetch = 1,
        .take = take,
        .arg = l,
    };
    return consume_open(&l->cs, &cc, st, errstr, errstr_size);
}

void deliver_loop_set_dr(rd_kafka_conf_t *conf, struct deliver_loop *l)
{
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery_report);
    rd_kafka_conf_set_opaque(conf, l);
}

int deliver_loop_init(struct deliver_loop *l, const struct sender_opts *so, char *errstr,
                      size_t errstr_size)
{
    if (pipe(l->wake) || fcntl(l->wake[0], F_SETFL, O_NONBLOCK) ||
        fcntl(l->wake[1], F_SETFL, O_NONBLOCK)) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        return -1;
    }
    metrics_register();
    metric_gauge_fn("ferry_deliver_parked_records", "Records waiting in the retry tiers", "",
                    parked_records, l);
    l->snd = sender_new(so, on_attempted, l, errstr, errstr_size);
    if (!l->snd || sender_watch(l->snd, l->wake[0])) {
        if (l->snd)
            snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
        sender_free(l->snd);
        l->snd = NULL;
        close(l->wake[0]);
        close(l->wake[1]);
        return -1;
    }
    l->rec = recorder_new(l->producer, l->topics, on_recorded, l);

    rd_kafka_queue_t *qs[3] = {rd_kafka_queue_get_consumer(l->cs.consumer),
                               rd_kafka_queue_get_consumer(delayq_consumer(l->cs.dq)),
                               rd_kafka_queue_get_main(l->producer)};
    for (int i = 0; i < 3; i++) {
        rd_kafka_queue_io_event_enable(qs[i], l->wake[1], "w", 1);
        l->queues[i] = qs[i];
    }
    return 0;
}

void deliver_loop_step(struct deliver_loop *l)
{
    wake_drain(l->wake[0]);
    rd_kafka_poll(l->producer, 0);
    /* Records while there is room, a retry and a new task in turn. */
    if (l->alive < l->max_pending)
        consume_take_ready(&l->cs, l->max_pending - l->alive);
    metric_set(m_in_flight, sender_in_flight(l->snd));
    metric_set(m_waiting, sender_waiting(l->snd));
    metric_set(m_parked_parts, (long long)delayq_parked(l->cs.dq));
    /* Sleep until the next parked head is due at the latest: delayq
     * resumes a partition when it is polled after its due time. */
    int64_t due_in = delayq_next_due_in(l->cs.dq);
    sender_run(l->snd, due_in >= 0 && due_in < LOOP_MAX_WAIT_MS ? (int)due_in : LOOP_MAX_WAIT_MS);
}

void deliver_loop_run(struct deliver_loop *l)
{
    while (!shutdown_requested())
        deliver_loop_step(l);
}

void deliver_loop_drain(struct deliver_loop *l, int timeout_ms)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    while (l->alive > 0 && clk_mono_ms() < deadline) {
        wake_drain(l->wake[0]);
        rd_kafka_poll(l->producer, 0);
        sender_run(l->snd, 50);
    }
    if (l->alive > 0)
        LOG_INFO("drain_incomplete",
                 "jobs=%d in_flight=%d why=\"they are sent again after "
                 "restart\"",
                 l->alive, sender_in_flight(l->snd));
    /* The producer and consumers are closed next; nothing must write into
     * the pipe of a loop that no longer runs. */
    for (int i = 0; i < 3; i++)
        if (l->queues[i]) {
            rd_kafka_queue_io_event_enable(l->queues[i], -1, NULL, 0);
            rd_kafka_queue_destroy(l->queues[i]);
            l->queues[i] = NULL;
        }
}

void deliver_loop_release(struct deliver_loop *l)
{
    sender_free(l->snd);
    recorder_free(l->rec);
    close(l->wake[0]);
    close(l->wake[1]);
}
