package dev.parley.java;

import java.time.Duration;

/** Something that happened to a client, for {@link ParleyEventListener}. Which getters apply depends on the kind. */
public final class ParleyEventInfo {
    /** The kinds of event. */
    public enum Kind {
        /** An attempt to connect began: {@link #attempt()}. */
        CONNECTING,
        /** The upgrade completed; {@link #delay()} is how long the attempt took, from its start to the upgrade. */
        CONNECTED,
        /** A connection or an attempt ended: {@link #disconnect()}. */
        DISCONNECTED,
        /** The next attempt will start after {@link #delay()}; it is reconnect number {@link #attempt()} in a row. */
        RECONNECT_SCHEDULED,
        /** The heartbeat's ping was answered; {@link #delay()} is the round trip, from the ping to its pong. */
        HEARTBEAT_ANSWERED,
        /** The heartbeat got no answer within {@link #delay()} (the pong timeout) of a ping. */
        HEARTBEAT_TIMEOUT,
        /** A frame nobody awaited could not be written: {@link #cause()}. */
        FRAME_DROPPED,
        /** A listener callback threw: {@link #cause()}. */
        LISTENER_FAILED,
        /** The client stopped; nothing follows. */
        STOPPED,
        /** The request {@link #key()} (its id) got no reply within {@link #delay()}, its timeout. */
        REQUEST_TIMED_OUT,
        /** A reply carried the id {@link #key()}, which no request was waiting for; {@link #late()} if it had timed out. */
        UNMATCHED_REPLY,
        /** A request was refused: {@link #limit()} requests were already waiting for replies. */
        PENDING_REQUESTS_FULL,
        /** The server confirmed the subscription {@link #key()}. */
        SUBSCRIPTION_CONFIRMED,
        /** The server refused the subscription {@link #key()}, saying {@link #reason()}. */
        SUBSCRIPTION_REFUSED,
        /** The subscription {@link #key()} was not confirmed within {@link #delay()}, its confirmation timeout. */
        SUBSCRIPTION_TIMED_OUT,
        /** The subscription {@link #key()}, sent on an earlier connection, was sent again on this one. */
        SUBSCRIPTION_RESTORED,
        /** The send gate refused a frame; it could pass after {@link #delay()}. */
        SEND_RATE_LIMITED,
        /** The send gate made a sender wait {@link #delay()} for its turn. */
        SEND_DELAYED
    }

    private final Kind kind;
    private final int attempt;
    private final Duration delay;
    private final DisconnectInfo disconnect;
    private final Throwable cause;
    private final Object key;
    private final String reason;
    private final boolean late;
    private final int limit;

    ParleyEventInfo(Kind kind, int attempt, Duration delay, DisconnectInfo disconnect, Throwable cause) {
        this(kind, attempt, delay, disconnect, cause, null, null, false, 0);
    }

    ParleyEventInfo(
        Kind kind, int attempt, Duration delay, DisconnectInfo disconnect, Throwable cause,
        Object key, String reason, boolean late, int limit
    ) {
        this.kind = kind;
        this.attempt = attempt;
        this.delay = delay;
        this.disconnect = disconnect;
        this.cause = cause;
        this.key = key;
        this.reason = reason;
        this.late = late;
        this.limit = limit;
    }

    /** What happened. */
    public Kind kind() { return kind; }

    /** The attempt number, for {@link Kind#CONNECTING} and {@link Kind#RECONNECT_SCHEDULED}. */
    public int attempt() { return attempt; }

    /**
     * The backoff delay for {@link Kind#RECONNECT_SCHEDULED}, the pong timeout for {@link Kind#HEARTBEAT_TIMEOUT}, the
     * round trip for {@link Kind#HEARTBEAT_ANSWERED}, the connect time for {@link Kind#CONNECTED}, the timeout for
     * {@link Kind#REQUEST_TIMED_OUT} and {@link Kind#SUBSCRIPTION_TIMED_OUT}, the time until a frame could pass for
     * {@link Kind#SEND_RATE_LIMITED}, the wait for {@link Kind#SEND_DELAYED}; otherwise {@code null}.
     */
    public Duration delay() { return delay; }

    /** Why the connection ended, for {@link Kind#DISCONNECTED}; otherwise {@code null}. */
    public DisconnectInfo disconnect() { return disconnect; }

    /** The failure, for {@link Kind#FRAME_DROPPED} and {@link Kind#LISTENER_FAILED}; otherwise {@code null}. */
    public Throwable cause() { return cause; }

    /**
     * The request id for {@link Kind#REQUEST_TIMED_OUT} and {@link Kind#UNMATCHED_REPLY}, the subscription key for the
     * {@code SUBSCRIPTION_*} kinds (as the codec made them); otherwise {@code null}.
     */
    public Object key() { return key; }

    /** The server's reason for {@link Kind#SUBSCRIPTION_REFUSED}; otherwise {@code null}. */
    public String reason() { return reason; }

    /** For {@link Kind#UNMATCHED_REPLY}: whether the request it answers had timed out; otherwise {@code false}. */
    public boolean late() { return late; }

    /** The most requests that may wait for replies, for {@link Kind#PENDING_REQUESTS_FULL}; otherwise 0. */
    public int limit() { return limit; }

    @Override
    public String toString() { return "ParleyEventInfo(" + kind + ")"; }
}
