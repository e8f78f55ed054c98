package dev.parley

/**
 * Transforms every outgoing data frame in one place (WebsockexNova's `prepare_frame`): stamping a sequence number or a
 * timestamp, signing, encoding. Set it with [ParleyOptions.Builder.prepareFrame].
 *
 * It is applied once per [Frame.Text] and [Frame.Binary], as the frame is handed to the client: by [ParleyClient.send],
 * [ParleyClient.enqueue] and [ParleyClient.trySend] on the caller's thread (so frames from one thread are prepared in
 * the order they are sent), and to a handler's [HandlerAction.Push] on the client's coroutine. Layers such as
 * [Requests] send through the client too, so a request is stamped with its id first and then prepared. Pings, pongs
 * and close frames are not passed to it. What it throws reaches the sender (from a push, it stops the client with
 * [StopReason.HandlerFailed]); it must be quick and must not block.
 */
public fun interface FramePreparer {
    /** The frame to send in place of [frame]: a [Frame.Text] or a [Frame.Binary]. */
    public fun prepare(frame: Frame): Frame
}
