import DLSMSCore
import DLSMSEngine
import Prometheus
import Synchronization

/// The service's Prometheus metrics (swift-prometheus), served at `GET /metrics`.
public final class ServiceMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let bookings: Counter
    private let conflicts: Counter
    private let throttledAttempts: Counter
    private let noShows: Counter
    private let completions: Counter
    private let walSync: Gauge
    private let walBatch: Gauge
    private let snapshotAge: Gauge
    private let sseConnections: Gauge
    private let storageFailed: Gauge
    private let connections: Gauge
    private let descriptors: Gauge
    private let descriptorLimit: Gauge
    private let descriptorsExhausted: Gauge
    private let offersMade: Gauge
    private let offersAccepted: Gauge
    private let offersDeclined: Gauge
    private let offersExpired: Gauge
    private let replicationPrimary: Gauge
    private let replicationEpoch: Gauge
    private let replicationLag: Gauge
    private let replicationLagRecords: Gauge
    private let mail: [Gauge]
    private let offerAcceptance: DurationHistogram
    private let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1),
    ]

    package static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "dlsms", metricName: metric, unitName: unit, helpText: help)
    }

    public init() {
        bookings = registry.makeCounter(descriptor: Self.name("bookings", "total", "Acknowledged bookings"))
        conflicts = registry.makeCounter(
            descriptor: Self.name("booking_conflicts", "total", "Bookings refused for a seat conflict"))
        throttledAttempts = registry.makeCounter(
            descriptor: Self.name(
                "booking_attempts_throttled", "total", "Booking attempts refused by the per-student bound (429)"))
        noShows = registry.makeCounter(
            descriptor: Self.name("no_shows", "total", "Reservations the sweeper marked NO_SHOW"))
        completions = registry.makeCounter(descriptor: Self.name("completions", "total", "Stays the sweeper completed"))
        walSync = registry.makeGauge(
            descriptor: Self.name("wal_last_fsync", "seconds", "Duration of the last WAL fdatasync"))
        walBatch = registry.makeGauge(
            descriptor: Self.name("wal_last_batch", "records", "Records in the last group-commit batch"))
        snapshotAge = registry.makeGauge(
            descriptor: Self.name("snapshot_age", "seconds", "Time since the last snapshot"))
        sseConnections = registry.makeGauge(descriptor: Self.name("sse", "connections", "Open notification streams"))
        storageFailed = registry.makeGauge(
            descriptor: Self.name(
                "storage_failed", "", "1 once a WAL write or sync failed: writes are refused and the process exits"))
        connections = registry.makeGauge(descriptor: Self.name("http", "connections", "Open HTTP connections"))
        descriptors = registry.makeGauge(descriptor: Self.name("open_files", "", "Open file descriptors"))
        descriptorLimit = registry.makeGauge(descriptor: Self.name("open_files_limit", "", "RLIMIT_NOFILE (soft)"))
        descriptorsExhausted = registry.makeGauge(
            descriptor: Self.name("open_files_exhausted", "", "1 while fewer than 32 file descriptors are left"))
        let made = registry
        mail = [
            ("mail_pending", "messages", "Emails waiting in the outbox"),
            ("mail_delivered", "total", "Emails the relay took, since the start"),
            ("mail_given_up", "total", "Emails refused for good (5xx) or still failing after --mail-retry-hours"),
            ("mail_dropped", "total", "Emails not queued (the outbox or the student's share was full) or dropped"),
            ("mail_oldest_pending", "seconds", "Age of the oldest email waiting (0: none)"),
        ].map { made.makeGauge(descriptor: ServiceMetrics.name($0.0, $0.1, $0.2)) }
        offersMade = registry.makeGauge(
            descriptor: Self.name("waitlist_offers_made", "total", "Seats held for the first in line"))
        offersAccepted = registry.makeGauge(
            descriptor: Self.name("waitlist_offers_accepted", "total", "Offers taken (holds that became bookings)"))
        offersDeclined = registry.makeGauge(
            descriptor: Self.name(
                "waitlist_offers_declined", "total", "Offers declined or left, or declined for a limit"))
        offersExpired = registry.makeGauge(
            descriptor: Self.name("waitlist_offers_expired", "total", "Holds that ran out and passed on"))
        replicationPrimary = registry.makeGauge(
            descriptor: Self.name(
                "replication_primary", "",
                "1 while this node takes writes (the one node, or the primary whose lease holds)"))
        replicationEpoch = registry.makeGauge(
            descriptor: Self.name("replication_epoch", "", "The epoch of the primary this node follows or is"))
        replicationLag = registry.makeGauge(
            descriptor: Self.name(
                "replication_lag", "seconds", "A standby: seconds since it last had everything the primary announced"))
        replicationLagRecords = registry.makeGauge(
            descriptor: Self.name(
                "replication_lag_records", "", "A standby: records behind the primary's last announcement"))
        offerAcceptance = registry.makeDurationHistogram(
            descriptor: Self.name(
                "waitlist_offer_acceptance", "seconds", "From the seat freeing to the offer's acceptance"),
            buckets: [
                .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600),
            ])
    }

    package func booked() { bookings.increment() }
    package func offerAccepted(afterSeconds seconds: Int64) { offerAcceptance.record(.seconds(max(0, seconds))) }
    package func conflicted() { conflicts.increment() }
    package func throttled() { throttledAttempts.increment() }
    package func swept(_ report: SweepReport) {
        noShows.increment(by: Int64(report.noShows.count))
        completions.increment(by: Int64(report.completed.count))
    }

    /// Each webhook endpoint's series (label `endpoint`, its id), made when it is first seen and
    /// removed with it: pending events and bytes, delivered, given up and dropped events, and
    /// whether its queue can be written.
    private let webhookSeries = Mutex<[Int64: [Gauge]]>([:])
    static let webhookNames: [(metric: String, unit: String, help: String)] = [
        ("webhook_pending", "events", "Events waiting on disk for the webhook endpoint"),
        ("webhook_pending", "bytes", "Bytes on disk of the events waiting for the webhook endpoint"),
        ("webhook_delivered", "total", "Events the webhook endpoint accepted"),
        ("webhook_given_up", "total", "Events given up on after 25 hours of retries"),
        (
            "webhook_dropped", "total",
            "Events not kept for the webhook endpoint: its queue was full or could not be written"
        ),
        (
            "webhook_queue_failed", "",
            "1 while the webhook endpoint's queue cannot be written (its new events are dropped)"
        ),
    ]

    func setWebhookSeries(_ queues: [WebhookOutbox.Queue]) {
        webhookSeries.withLock { series in
            let live = Set(queues.map(\.endpoint.id))
            for (id, gauges) in series where !live.contains(id) {
                for gauge in gauges { registry.unregisterGauge(gauge) }
                series[id] = nil
            }
            for queue in queues {
                let id = queue.endpoint.id
                let gauges =
                    series[id]
                    ?? Self.webhookNames.map {
                        registry.makeGauge(
                            descriptor: Self.name($0.metric, $0.unit, $0.help), labels: [("endpoint", String(id))])
                    }
                series[id] = gauges
                let values: [Int64] = [
                    Int64(queue.spool.pending), Int64(queue.spool.pendingBytes), queue.endpoint.delivered,
                    queue.endpoint.givenUp, queue.spool.dropped, queue.spool.failure == nil ? 0 : 1,
                ]
                for (gauge, value) in zip(gauges, values) { gauge.set(Double(value)) }
            }
        }
    }

    /// Request counters and latency histograms, made once per label set (making one is costly).
    private let perRoute = Mutex<[String: (Counter, DurationHistogram)]>([:])

    package func request(method: String, route: String, status: Int, duration: Duration) {
        let key = method + " " + route + " " + String(status)
        let made = perRoute.withLock { $0[key] }
        let (counter, histogram) =
            made
            ?? {
                let pair = (
                    registry.makeCounter(
                        descriptor: Self.name("http_requests", "total", "HTTP requests by method, route and status"),
                        labels: [("method", method), ("route", route), ("status", String(status))]),
                    registry.makeDurationHistogram(
                        descriptor: Self.name("http_request_duration", "seconds", "HTTP request latency by route"),
                        labels: [("route", route)], buckets: buckets)
                )
                perRoute.withLock { $0[key] = pair }
                return pair
            }()
        counter.increment()
        histogram.record(duration)
    }

    /// The exposition text, with the gauges read now.
    package func render(_ service: LibraryService) -> String {
        let stats = service.durable.wal.statistics
        walSync.set(Double(stats.lastSyncNanoseconds) / 1e9)
        walBatch.set(Double(stats.lastBatchRecords))
        snapshotAge.set(Double(service.engine.clock.now() - service.durable.lastSnapshot.time))
        sseConnections.set(Double(service.engine.notifications.streamCount))
        storageFailed.set(Double(service.durable.wal.failure != nil || service.engine.writeFailure != nil ? 1 : 0))
        connections.set(Double(service.connections.count))
        let f = service.resources.figures
        descriptors.set(Double(f.openDescriptors))
        descriptorLimit.set(Double(f.descriptorLimit))
        descriptorsExhausted.set(Double(f.descriptorsExhausted ? 1 : 0))
        let offers = service.engine.offerFigures
        offersMade.set(Double(offers.made))
        offersAccepted.set(Double(offers.accepted))
        offersDeclined.set(Double(offers.declined))
        offersExpired.set(Double(offers.expired))
        let replication = service.replication
        replicationPrimary.set(Double(replication.acceptsWrites ? 1 : 0))
        replicationEpoch.set(Double(replication.epoch))
        let lag: (records: UInt64, seconds: Double) = replication.role == .standby ? replication.lag : (0, 0)
        replicationLag.set(lag.seconds)
        replicationLagRecords.set(Double(lag.records))
        setWebhookSeries(service.engine.webhooks.endpoints)
        let outbox = service.engine.mail.figures
        let age = outbox.oldestPendingAt.map { max(0, service.engine.clock.now() - $0) } ?? 0
        for (gauge, value) in zip(mail, [outbox.pending, outbox.delivered, outbox.givenUp, outbox.dropped, Int(age)]) {
            gauge.set(Double(value))
        }
        var text = registry.emitToString()
        if let detail = service.durable.wal.failureDetail {
            // Why, for the operator (a comment, so that the exposition format stays valid).
            text += "# dlsms_storage_failed reason: \(detail.replacingOccurrences(of: "\n", with: " "))\n"
        }
        return text
    }
}
