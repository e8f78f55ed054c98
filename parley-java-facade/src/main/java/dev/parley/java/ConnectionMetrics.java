package dev.parley.java;

import java.time.Duration;
import java.time.Instant;

/**
 * A snapshot of a client's health and traffic, from {@link ParleyWebSocket#metrics()}. Counters are totals since the
 * client started, across reconnections; taking a snapshot never waits on the connection.
 */
public final class ConnectionMetrics {
    private final ParleyState state;
    private final Duration timeInState;
    private final Instant connectedSince;
    private final int reconnectAttempts;
    private final long totalReconnects;
    private final long framesSent;
    private final long bytesSent;
    private final long framesReceived;
    private final long bytesReceived;
    private final int sendQueueDepth;
    private final int sendQueueCapacity;
    private final long missedPongs;
    private final DisconnectInfo lastDisconnect;
    private final Latency latency;
    private final int pendingCallbacks;
    private final Instant lastHeartbeatAnsweredAt;
    private final int consecutiveMissedHeartbeats;

    ConnectionMetrics(ParleyState state, Duration timeInState, Instant connectedSince, int reconnectAttempts,
                      long totalReconnects, long framesSent, long bytesSent, long framesReceived, long bytesReceived,
                      int sendQueueDepth, int sendQueueCapacity, long missedPongs, DisconnectInfo lastDisconnect,
                      Latency latency, int pendingCallbacks, Instant lastHeartbeatAnsweredAt,
                      int consecutiveMissedHeartbeats) {
        this.state = state;
        this.timeInState = timeInState;
        this.connectedSince = connectedSince;
        this.reconnectAttempts = reconnectAttempts;
        this.totalReconnects = totalReconnects;
        this.framesSent = framesSent;
        this.bytesSent = bytesSent;
        this.framesReceived = framesReceived;
        this.bytesReceived = bytesReceived;
        this.sendQueueDepth = sendQueueDepth;
        this.sendQueueCapacity = sendQueueCapacity;
        this.missedPongs = missedPongs;
        this.lastDisconnect = lastDisconnect;
        this.latency = latency;
        this.pendingCallbacks = pendingCallbacks;
        this.lastHeartbeatAnsweredAt = lastHeartbeatAnsweredAt;
        this.consecutiveMissedHeartbeats = consecutiveMissedHeartbeats;
    }

    /** When a heartbeat ping (protocol or application-level) was last answered, or {@code null} if none has been. */
    public Instant lastHeartbeatAnsweredAt() { return lastHeartbeatAnsweredAt; }

    /** Heartbeats that found the connection dead in a row, across reconnects, since the last answered one. */
    public int consecutiveMissedHeartbeats() { return consecutiveMissedHeartbeats; }

    /**
     * Message callbacks handed to the callback executor and not finished yet; at
     * {@link ParleyWebSocket.Builder#maxPendingCallbacks} the client stops reading until one finishes.
     */
    public int pendingCallbacks() { return pendingCallbacks; }

    /** The state at the time of the snapshot. */
    public ParleyState state() { return state; }

    /** How long the client has been in {@link #state()}. */
    public Duration timeInState() { return timeInState; }

    /** When the current connection opened, or {@code null} when not connected. */
    public Instant connectedSince() { return connectedSince; }

    /** Reconnect attempts in a row since the last stable connection. */
    public int reconnectAttempts() { return reconnectAttempts; }

    /** Connections opened after the first one. */
    public long totalReconnects() { return totalReconnects; }

    /** Frames written, data and control. */
    public long framesSent() { return framesSent; }

    /** Payload bytes written. */
    public long bytesSent() { return bytesSent; }

    /** Frames read, data and control, before reassembly. */
    public long framesReceived() { return framesReceived; }

    /** Payload bytes read. */
    public long bytesReceived() { return bytesReceived; }

    /** Frames accepted by a send and not yet written or failed. */
    public int sendQueueDepth() { return sendQueueDepth; }

    /** The send queue's capacity in frames. */
    public int sendQueueCapacity() { return sendQueueCapacity; }

    /** Heartbeat pings that went unanswered (each dropped a connection). */
    public long missedPongs() { return missedPongs; }

    /** Why the last connection or attempt ended, or {@code null}. */
    public DisconnectInfo lastDisconnect() { return lastDisconnect; }

    /** Round-trip times from heartbeat pongs. */
    public Latency latency() { return latency; }

    /**
     * Round-trip times from matched heartbeat pongs: percentiles and extremes over a bounded window of recent samples,
     * {@link #count()} and {@link #total()} over all of them. Durations are {@code null} before the first sample.
     */
    public static final class Latency {
        private final long count;
        private final Duration total;
        private final Duration last;
        private final Duration min;
        private final Duration p50;
        private final Duration p90;
        private final Duration p99;
        private final Duration max;

        Latency(long count, Duration total, Duration last, Duration min, Duration p50, Duration p90, Duration p99,
                Duration max) {
            this.count = count;
            this.total = total;
            this.last = last;
            this.min = min;
            this.p50 = p50;
            this.p90 = p90;
            this.p99 = p99;
            this.max = max;
        }

        /** Samples so far. */
        public long count() { return count; }

        /** Sum of all samples. */
        public Duration total() { return total; }

        /** The latest sample. */
        public Duration last() { return last; }

        /** The smallest sample in the window. */
        public Duration min() { return min; }

        /** The median of the window. */
        public Duration p50() { return p50; }

        /** The 90th percentile of the window. */
        public Duration p90() { return p90; }

        /** The 99th percentile of the window. */
        public Duration p99() { return p99; }

        /** The largest sample in the window. */
        public Duration max() { return max; }
    }
}
