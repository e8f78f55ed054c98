package dev.parley.java;

/** What the requests of a {@link ParleyWebSocket} have seen so far ({@link ParleyWebSocket#requestStats()}). */
public final class RequestStats {
    private final int pending;
    private final long answered;
    private final long timedOut;
    private final long failed;
    private final long unmatched;
    private final ConnectionMetrics.Latency latency;

    RequestStats(int pending, long answered, long timedOut, long failed, long unmatched,
                 ConnectionMetrics.Latency latency) {
        this.pending = pending;
        this.answered = answered;
        this.timedOut = timedOut;
        this.failed = failed;
        this.unmatched = unmatched;
        this.latency = latency;
    }

    /** Requests waiting for their reply now. */
    public int pending() { return pending; }

    /** Requests that got their reply. */
    public long answered() { return answered; }

    /** Requests that got no reply within their timeout. */
    public long timedOut() { return timedOut; }

    /** Requests that could not be sent, or whose connection or client ended before the reply. */
    public long failed() { return failed; }

    /** Replies no request was waiting for (late ones included), handed to {@link ParleyListener#onUnmatchedReply}. */
    public long unmatched() { return unmatched; }

    /** From the call to the reply, over answered requests (the last 1,024 to 2,048). */
    public ConnectionMetrics.Latency latency() { return latency; }

    @Override
    public String toString() {
        return "RequestStats(pending=" + pending + ", answered=" + answered + ", timedOut=" + timedOut
            + ", failed=" + failed + ", unmatched=" + unmatched + ", p50=" + latency.p50() + ")";
    }
}
