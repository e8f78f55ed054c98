package dev.parley.java;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** A snapshot of a client's state. Which getters are meaningful depends on {@link #kind()}. */
public final class ParleyState {
    /** Where the client is. */
    public enum Kind {
        /** Not started yet, or no connection: {@link #lastDisconnect()}, {@link #nextAttemptIn()}. */
        DISCONNECTED,
        /** Opening a connection; sends are queued: {@link #attempt()}. */
        CONNECTING,
        /** Open: {@link #subprotocol()}, {@link #responseHeaders()}. */
        CONNECTED,
        /** Terminal: {@link #stopKind()}, {@link #stopCause()}. */
        STOPPED
    }

    /** Why a client stopped. */
    public enum StopKind {
        /** {@link ParleyWebSocket#close()} or {@link ParleyWebSocket#stop()}. */
        REQUESTED,
        /** {@link ParleyWebSocket#cancel()}: the socket was dropped without a close frame. */
        ABORTED,
        /** A listener called {@link Reply#stop}: {@link #stopReason()}. */
        BY_LISTENER,
        /** Reconnection gave up after the configured retries: {@link #stopCause()}. */
        RETRIES_EXHAUSTED,
        /** A listener threw: {@link #stopCause()}. */
        LISTENER_FAILED,
        /** The client's coroutine was cancelled from outside (not through this API): {@link #stopCause()}. */
        CANCELLED,
        /** The client itself failed (a bug, or an {@code Error} such as {@code OutOfMemoryError}): {@link #stopCause()}. */
        FAILED
    }

    private final Kind kind;
    private final DisconnectInfo lastDisconnect;
    private final Duration nextAttemptIn;
    private final int attempt;
    private final String subprotocol;
    private final Map<String, List<String>> responseHeaders;
    private final StopKind stopKind;
    private final Object stopReason;
    private final Throwable stopCause;
    private final boolean awaitingDecision;

    ParleyState(Kind kind, DisconnectInfo lastDisconnect, Duration nextAttemptIn, int attempt, String subprotocol,
                Map<String, List<String>> responseHeaders, StopKind stopKind, Object stopReason, Throwable stopCause,
                boolean awaitingDecision) {
        this.kind = Objects.requireNonNull(kind);
        this.lastDisconnect = lastDisconnect;
        this.nextAttemptIn = nextAttemptIn;
        this.attempt = attempt;
        this.subprotocol = subprotocol;
        this.responseHeaders = responseHeaders;
        this.stopKind = stopKind;
        this.stopReason = stopReason;
        this.stopCause = stopCause;
        this.awaitingDecision = awaitingDecision;
    }

    /** Where the client is. */
    public Kind kind() { return kind; }

    /** Why the last connection ended, or {@code null} before the first one did. */
    public DisconnectInfo lastDisconnect() { return lastDisconnect; }

    /** The delay before the next automatic attempt, or {@code null} if none is scheduled. */
    public Duration nextAttemptIn() { return nextAttemptIn; }

    /**
     * {@code true} while {@link ParleyListener#onDisconnect} has not answered, so whether a retry comes is not known
     * yet; once {@code false}, a {@code null} {@link #nextAttemptIn()} means the client stays down until
     * {@link ParleyWebSocket#connect}.
     */
    public boolean awaitingDecision() { return awaitingDecision; }

    /** 0 for a first or requested connect, n for the n-th automatic reconnect in a row. */
    public int attempt() { return attempt; }

    /** The subprotocol the server selected, or {@code null}. */
    public String subprotocol() { return subprotocol; }

    /** The upgrade response headers (lower-case names, secrets redacted), or an empty map. */
    public Map<String, List<String>> responseHeaders() { return responseHeaders; }

    /** Why the client stopped, or {@code null} unless {@link Kind#STOPPED}. */
    public StopKind stopKind() { return stopKind; }

    /** The value given to {@link Reply#stop}, or {@code null}. */
    public Object stopReason() { return stopReason; }

    /** The failure that stopped the client, or {@code null}. */
    public Throwable stopCause() { return stopCause; }

    @Override
    public String toString() {
        switch (kind) {
            case CONNECTED: return "CONNECTED(subprotocol=" + subprotocol + ")";
            case CONNECTING: return "CONNECTING(attempt=" + attempt + ")";
            case STOPPED: return "STOPPED(" + stopKind + ")";
            default: return "DISCONNECTED(" + (lastDisconnect == null ? "never connected" : lastDisconnect.kind())
                + (nextAttemptIn == null ? "" : ", next attempt in " + nextAttemptIn.toMillis() + " ms") + ")";
        }
    }
}
