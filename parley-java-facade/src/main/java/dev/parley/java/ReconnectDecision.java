package dev.parley.java;

import java.time.Duration;
import java.util.Objects;

/**
 * What {@link ParleyListener#onDisconnect} decides about reconnecting: one of the three constants, or
 * {@link #reconnectAfter(Duration)} for a delay the listener chooses.
 */
public final class ReconnectDecision {
    /** The kinds of decision. */
    public enum Kind {
        /** See {@link #DEFAULT}. */
        DEFAULT,
        /** See {@link #RECONNECT} and {@link #reconnectAfter(Duration)}. */
        RECONNECT,
        /** See {@link #STAY_DISCONNECTED}. */
        STAY_DISCONNECTED
    }

    /**
     * Follow the builder's reconnect policy when the reason is recoverable (see {@link DisconnectInfo#recoverable()}
     * and {@code recoveryPolicy}), not sooner than the server's {@code Retry-After}; stay down after a fatal one and
     * after {@link ParleyWebSocket#disconnect}.
     */
    public static final ReconnectDecision DEFAULT = new ReconnectDecision(Kind.DEFAULT, null);

    /**
     * Reconnect, also after a fatal reason, with the configured backoff or the default one (1 s base, 30 s cap). The
     * attempt counts toward the policy's maximum retries.
     */
    public static final ReconnectDecision RECONNECT = new ReconnectDecision(Kind.RECONNECT, null);

    /** Stay disconnected until {@link ParleyWebSocket#connect}. */
    public static final ReconnectDecision STAY_DISCONNECTED = new ReconnectDecision(Kind.STAY_DISCONNECTED, null);

    private final Kind kind;
    private final Duration delay;

    private ReconnectDecision(Kind kind, Duration delay) {
        this.kind = kind;
        this.delay = delay;
    }

    /**
     * Reconnect after exactly {@code delay} (instead of the backoff), also after a fatal reason; the attempt counts
     * toward the policy's maximum retries.
     *
     * @throws IllegalArgumentException if {@code delay} is negative.
     */
    public static ReconnectDecision reconnectAfter(Duration delay) {
        Objects.requireNonNull(delay, "delay");
        if (delay.isNegative()) throw new IllegalArgumentException("delay must not be negative but was " + delay);
        return new ReconnectDecision(Kind.RECONNECT, delay);
    }

    /** The kind of decision. */
    public Kind kind() { return kind; }

    /** The delay chosen with {@link #reconnectAfter(Duration)}, or {@code null} for the backoff. */
    public Duration delay() { return delay; }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof ReconnectDecision)) return false;
        ReconnectDecision other = (ReconnectDecision) o;
        return kind == other.kind && Objects.equals(delay, other.delay);
    }

    @Override
    public int hashCode() { return Objects.hash(kind, delay); }

    @Override
    public String toString() { return delay == null ? kind.name() : "RECONNECT after " + delay; }
}
