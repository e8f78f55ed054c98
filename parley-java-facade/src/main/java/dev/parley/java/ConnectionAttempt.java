package dev.parley.java;

/**
 * The attempt a connection info function is asked about ({@link ParleyWebSocket.Builder#connectionInfo}).
 */
public final class ConnectionAttempt {
    private final int attempt;
    private final long connections;
    private final DisconnectInfo lastReason;

    ConnectionAttempt(int attempt, long connections, DisconnectInfo lastReason) {
        this.attempt = attempt;
        this.connections = connections;
        this.lastReason = lastReason;
    }

    /** This attempt's number in the current run of attempts: 1 after a connection ended or at the first connect. */
    public int attempt() { return attempt; }

    /** Connections that opened so far (0 before the first). */
    public long connections() { return connections; }

    /** Why the previous connection or attempt ended, or {@code null} before any. */
    public DisconnectInfo lastReason() { return lastReason; }

    @Override
    public String toString() {
        return "ConnectionAttempt(attempt=" + attempt + ", connections=" + connections + ", lastReason=" + lastReason + ")";
    }
}
