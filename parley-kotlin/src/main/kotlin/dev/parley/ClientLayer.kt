package dev.parley

/**
 * A piece of behaviour that sits between a client and its handler: it sees each connection, inbound message and
 * disconnect before the handler does, may consume the messages meant for it, and sends through the client. Requests
 * with replies ([Requests]) are one. Add layers with [ParleyOptions.Builder.layer]; they run in the order added.
 *
 * Every callback runs on the client's coroutine, one at a time with the handler's, so a layer sees events in order
 * and needs no locks for what only its callbacks touch. A callback that throws stops the client with
 * [StopReason.HandlerFailed], as a handler's does. Layers are written in Kotlin (the callbacks suspend); Java code
 * uses the ones Parley provides.
 *
 * One layer instance serves one client: the options that hold it may build one client only.
 */
public interface ClientLayer {
    /** Called once, as the client starts and before any other callback, with the client to send through. */
    public fun attach(client: ParleyClient) {}

    /**
     * A connection is up. Frames sent here with [ParleyClient.enqueue] are written before the handler's onConnect
     * pushes and before anything queued while connecting, a later layer's after an earlier one's ([ParleyClient.trySend]
     * queues behind what is queued).
     */
    public suspend fun onConnect() {}

    /**
     * An inbound message ([Frame.Text] or [Frame.Binary]). Return `true` if this layer consumed it: then neither the
     * handler nor a later layer sees it.
     */
    public suspend fun onFrame(frame: Frame): Boolean = false

    /** A connection or a connection attempt ended with [reason]; called before the handler's onDisconnect. */
    public suspend fun onDisconnect(reason: DisconnectReason) {}

    /** The client stopped for good with [reason]; called once, as it ends, after which no callback comes. */
    public fun onStop(reason: StopReason) {}
}
