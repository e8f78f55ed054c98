package dev.parley.java;

/** What {@link ParleyListener#onDisconnect} decides about reconnecting. */
public enum ReconnectDecision {
    /** Follow the configured reconnect policy; after {@link ParleyWebSocket#disconnect} this stays down. */
    DEFAULT,
    /** Reconnect with backoff, with the configured policy or the default one (1 s base, 30 s cap). */
    RECONNECT,
    /** Stay disconnected until {@link ParleyWebSocket#connect}. */
    STAY_DISCONNECTED
}
