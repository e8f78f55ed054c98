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
        STOPPED
    }

    private final Kind kind;
    private final int attempt;
    private final Duration delay;
    private final DisconnectInfo disconnect;
    private final Throwable cause;

    ParleyEventInfo(Kind kind, int attempt, Duration delay, DisconnectInfo disconnect, Throwable cause) {
        this.kind = kind;
        this.attempt = attempt;
        this.delay = delay;
        this.disconnect = disconnect;
        this.cause = cause;
    }

    /** What happened. */
    public Kind kind() { return kind; }

    /** The attempt number, for {@link Kind#CONNECTING} and {@link Kind#RECONNECT_SCHEDULED}. */
    public int attempt() { return attempt; }

    /**
     * The backoff delay for {@link Kind#RECONNECT_SCHEDULED}, the pong timeout for {@link Kind#HEARTBEAT_TIMEOUT}, the
     * round trip for {@link Kind#HEARTBEAT_ANSWERED}, the connect time for {@link Kind#CONNECTED}; otherwise
     * {@code null}.
     */
    public Duration delay() { return delay; }

    /** Why the connection ended, for {@link Kind#DISCONNECTED}; otherwise {@code null}. */
    public DisconnectInfo disconnect() { return disconnect; }

    /** The failure, for {@link Kind#FRAME_DROPPED} and {@link Kind#LISTENER_FAILED}; otherwise {@code null}. */
    public Throwable cause() { return cause; }

    @Override
    public String toString() { return "ParleyEventInfo(" + kind + ")"; }
}
