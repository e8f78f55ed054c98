package dev.parley

/**
 * An application-level heartbeat ([HeartbeatPolicy.app]), for servers whose liveness is their application's, not
 * their WebSocket layer's (ZenWebsocket's `:deribit` and custom heartbeats, WebsockexNova's `ping/2` and
 * `handle_pong/2`): the heartbeat sends [ping] instead of a protocol ping and recognises its answer with
 * [pongSequence]. A server that still answers protocol pings but has stopped its application loop is then found dead,
 * with the same verdict ([DisconnectReason.HeartbeatTimedOut]) and round-trip statistics as the protocol heartbeat.
 *
 * In this mode only data messages prove liveness (protocol pings and pongs do not): the heartbeat pings after
 * [HeartbeatPolicy.interval] without a message, and the connection is dead when neither the answer nor any other
 * message arrives within [HeartbeatPolicy.pongTimeout].
 *
 * The functions run on the client's coroutine for every inbound message, so they must be quick; one that throws stops
 * the client with [StopReason.HandlerFailed]. Pings go through [ParleyOptions.prepareFrame] like any data frame.
 */
public interface AppHeartbeat {
    /** The ping to send; [sequence] counts the pings of this client from 1. */
    public fun ping(sequence: Long): Frame

    /**
     * The sequence of the ping that inbound [frame] answers, or `null` if it answers none of ours: then it reaches
     * the handler. An answer is consumed; only the answer to the latest ping counts as proof of life and gives a
     * round-trip sample.
     */
    public fun pongSequence(frame: Frame): Long?

    /**
     * The answer to a server's own application-level ping (Deribit's `test_request`, say), which Parley then sends
     * at once, or `null` if [frame] is not one. A ping answered here is consumed.
     */
    public fun answer(frame: Frame): Frame? = null
}
