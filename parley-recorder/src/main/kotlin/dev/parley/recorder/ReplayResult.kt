package dev.parley.recorder

import dev.parley.Frame

/**
 * What a handler did when a [Recording] was [replayed][Recording.replay] into it.
 *
 * @property state the handler's state after the last callback.
 * @property pushed the frames it pushed ([dev.parley.HandlerAction.Push]), in order, each with its connection.
 * @property callbacks how many callbacks were made, init included.
 * @property stopped whether the handler stopped the replay (InitResult.Stop, HandlerAction.Stop, DisconnectDecision.Stop).
 */
public class ReplayResult<S> internal constructor(
    public val state: S,
    public val pushed: List<ReplayedPush>,
    public val callbacks: Int,
    public val stopped: Boolean,
) {
    override fun toString(): String = "ReplayResult($callbacks callbacks, ${pushed.size} pushed, stopped=$stopped)"
}

/**
 * A frame a handler pushed during a replay.
 *
 * @property connection the recorded connection it answered.
 * @property frame the frame.
 */
public class ReplayedPush internal constructor(
    public val connection: Long,
    public val frame: Frame,
) {
    override fun toString(): String = "ReplayedPush(connection $connection, ${frame::class.simpleName})"
}
