package dev.parley.java;

/**
 * Receives a client's lifecycle events, for logging and alerting without a {@link ParleyListener}: connecting,
 * connected, disconnected, reconnect scheduled, heartbeat timeout, frame dropped, listener failed, stopped; and those of
 * its requests, subscriptions and send gate (timeouts, unmatched replies, refusals, confirmations, restores, sends
 * rate limited or delayed), each family at most 256 per connection. Called on
 * the client's callback executor, never concurrently with its other callbacks. Events are best-effort: a listener that
 * falls more than 256 events behind loses the oldest.
 */
@FunctionalInterface
public interface ParleyEventListener {
    /** Something happened. */
    void onEvent(ParleyEventInfo event);
}
