package dev.parley

import kotlin.time.Duration

/**
 * Something that happened to a client, published on [ParleyClient.events] for logging and alerting without a handler.
 *
 * [ParleyClient.state] says what *is*; events say what *happened*, including what a conflating `StateFlow` skips.
 * Emitting never waits for a collector: one that falls more than 1,024 events behind loses the oldest. Lifecycle
 * events ([Connecting], [Connected], [Disconnected], [ReconnectScheduled], [HeartbeatTimedOut], [HandlerFailed],
 * [Stopped]) are a handful per connection, so that takes a collector that has stalled. The others can come in bursts,
 * so each family is capped per connection attempt (the count starts again at every [Connecting]) and cannot push
 * lifecycle events out; what the cap leaves out is still counted in the metrics:
 * - at most 256 [FrameDropped] (all in [ParleyMetrics.framesDropped]);
 * - at most 256 request events, [RequestTimedOut], [UnmatchedReplyReceived] and [PendingRequestsFull] together (all
 *   in [Requests.metrics]); a request answered in time is no event;
 * - at most 256 subscription events, [SubscriptionConfirmed], [SubscriptionRefused], [SubscriptionTimedOut] and
 *   [SubscriptionRestored] together (a registry of thousands of keys would otherwise flood the buffer at each
 *   reconnect; the registry itself is [Subscriptions.states]);
 * - at most 256 send gate events, [SendRateLimited] and [SendDelayed] together;
 * - [HeartbeatAnswered] at most once per heartbeat interval.
 *
 * The request and send gate events can come at the rate of sends, so they are only made while someone collects
 * [ParleyClient.events]: with no collector, nothing is built, and none of them becomes the latest event.
 *
 * A new collector first receives the latest event, so it learns how the client got to where it is (the first
 * [Connecting], for one that subscribes right after start; on a quiet connection with a heartbeat, the latest
 * [HeartbeatAnswered]).
 */
public sealed class ParleyEvent {
    /** An attempt to connect began; [attempt] as in [ConnectionState.Connecting]. */
    public data class Connecting(
        val attempt: Int,
    ) : ParleyEvent()

    /** The upgrade completed; [connection] numbers it as [ConnectionState.Connected.connection] does. */
    public data class Connected(
        val subprotocol: String?,
        val connection: Long = 0,
    ) : ParleyEvent() {
        /**
         * How long the attempt that opened this connection took, from its start ([Connecting]) to the completed
         * upgrade: DNS, TCP, TLS and the HTTP upgrade, not [ParleyHandler.onConnect]. A measurement, so it takes no
         * part in `equals`, `hashCode` or `copy`; [Duration.ZERO] in an event not made by a client.
         */
        public var connectTime: Duration = Duration.ZERO
            private set

        internal constructor(subprotocol: String?, connection: Long, connectTime: Duration) :
            this(subprotocol, connection) {
            this.connectTime = connectTime
        }
    }

    /** A connection or an attempt ended. */
    public data class Disconnected(
        val reason: DisconnectReason,
    ) : ParleyEvent()

    /** The next attempt will start after [delay]; it is reconnect attempt number [attempt] (from 1) in a row. */
    public data class ReconnectScheduled(
        val delay: Duration,
        val attempt: Int,
    ) : ParleyEvent()

    /**
     * The heartbeat's ping was answered by its pong after [roundTrip] (from writing the ping to reading the pong). The
     * same sample goes into [ParleyMetrics.latency]; this is for recording each one, e.g. in a histogram.
     */
    public data class HeartbeatAnswered(
        val roundTrip: Duration,
    ) : ParleyEvent()

    /** The heartbeat saw no pong and no other frame within [pongTimeout] of a ping; the connection is being dropped. */
    public data class HeartbeatTimedOut(
        val pongTimeout: Duration,
    ) : ParleyEvent()

    /**
     * A frame given to [ParleyClient.trySend] was queued but could not be written. (Callers of
     * [ParleyClient.send] are told by the exception; this is for the frames nobody waits on.)
     */
    public data class FrameDropped(
        val cause: ParleyException,
    ) : ParleyEvent()

    /** A handler callback threw; the client stops. */
    public data class HandlerFailed(
        val cause: Throwable,
    ) : ParleyEvent()

    /** The client stopped; no further event follows. */
    public data class Stopped(
        val reason: StopReason,
    ) : ParleyEvent()

    /**
     * The request [id] of a [Requests] got no reply within [timeout]; its caller got [RequestTimeoutException]. Capped
     * per connection, see [ParleyEvent].
     */
    public data class RequestTimedOut(
        val id: Any,
        val timeout: Duration,
    ) : ParleyEvent()

    /**
     * A reply carried the id [id], which no request of a [Requests] was waiting for: [late] if that request had timed
     * out, else a duplicate or a stray. It went to [ParleyHandler.onInfo] as an [UnmatchedReply]. Capped per
     * connection, see [ParleyEvent].
     */
    public data class UnmatchedReplyReceived(
        val id: Any,
        val late: Boolean,
    ) : ParleyEvent()

    /**
     * A request was refused with [PendingRequestsFullException]: [maxPending] requests were already waiting for replies.
     * Capped per connection, see [ParleyEvent].
     */
    public data class PendingRequestsFull(
        val maxPending: Int,
    ) : ParleyEvent()

    /** The server confirmed the subscription [key] of a [Subscriptions]. Capped per connection, see [ParleyEvent]. */
    public data class SubscriptionConfirmed(
        val key: Any,
    ) : ParleyEvent()

    /**
     * The server refused the subscription [key] of a [Subscriptions], saying [reason]; it is
     * [SubscriptionState.Failed] and not restored. Capped per connection, see [ParleyEvent].
     */
    public data class SubscriptionRefused(
        val key: Any,
        val reason: String,
    ) : ParleyEvent()

    /**
     * The subscription [key] of a [Subscriptions] was not confirmed within [confirmTimeout]; it is
     * [SubscriptionState.Failed] and not restored. Capped per connection, see [ParleyEvent].
     */
    public data class SubscriptionTimedOut(
        val key: Any,
        val confirmTimeout: Duration,
    ) : ParleyEvent()

    /**
     * The subscription [key] of a [Subscriptions], sent on an earlier connection, was sent again on this one; a
     * [SubscriptionConfirmed] or its failure follows. Capped per connection, see [ParleyEvent].
     */
    public data class SubscriptionRestored(
        val key: Any,
    ) : ParleyEvent()

    /**
     * The [SendGate] refused a frame: its sender got [RateLimitedException]; it could pass in [retryAfter]. Made only
     * while someone collects, and capped per connection, see [ParleyEvent].
     */
    public data class SendRateLimited(
        val retryAfter: Duration,
    ) : ParleyEvent()

    /**
     * The [SendGate] made a sender wait [wait] for its turn before its frame was queued. Made only while someone
     * collects, and capped per connection, see [ParleyEvent].
     */
    public data class SendDelayed(
        val wait: Duration,
    ) : ParleyEvent()
}
