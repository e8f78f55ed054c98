package dev.parley

/**
 * How [Requests] matches replies to requests: where an outgoing request's id is, and which request an incoming
 * message answers. `JsonRpc.codec()` in `parley-jsonrpc` is the ready-made one for JSON-RPC 2.0. Both functions run
 * on the client's coroutine (or the caller's, for [stamp]) and must be quick.
 *
 * @param Id the id type; ids are compared with `equals`, so it must have value semantics (a `String`, a `Long`).
 */
public interface RequestCodec<Id : Any> {
    /**
     * The id of outgoing [request] and the frame to send: the id the caller already put in it, or a new one stamped
     * into a copy. Throw `IllegalArgumentException` for a frame that cannot be a request.
     */
    public fun stamp(request: Frame): StampedRequest<Id>

    /** The id of the request that inbound [frame] answers, or `null` if it is not a reply (a push, a notification). */
    public fun replyId(frame: Frame): Id?
}

/**
 * A request ready to go: [frame] carries [id].
 *
 * @property id the request's id, unique among the requests waiting for a reply.
 * @property frame the frame to send.
 */
public class StampedRequest<Id : Any>(
    public val id: Id,
    public val frame: Frame,
) {
    override fun toString(): String = "StampedRequest(id=$id)"
}

/**
 * A reply that no request was waiting for, delivered to [ParleyHandler.onInfo] (Java: `ParleyListener.onInfo`)
 * instead of [ParleyHandler.onFrame]: it must not pass for a new message.
 *
 * @property id the id the reply carried.
 * @property frame the reply itself.
 * @property late `true` when a request with this id timed out not long before (among the last 1,024 that did): the
 *   answer came after its caller had been told so. `false` for an id no request of this client's carried recently.
 */
public data class UnmatchedReply(
    val id: Any,
    val frame: Frame,
    val late: Boolean,
)

/**
 * A request got no reply within its timeout. Its caller is told exactly then; a reply that arrives afterwards is an
 * [UnmatchedReply] with `late = true`.
 *
 * @property id the request's id.
 * @property timeout the limit that passed.
 */
public class RequestTimeoutException(
    public val id: Any,
    public val timeout: kotlin.time.Duration,
) : ParleyException("no reply to request $id within $timeout") {
    /** [timeout] in milliseconds, for Java. */
    public val timeoutMillis: Long get() = timeout.inWholeMilliseconds
}

/**
 * As many requests as [Requests] allows were already waiting for replies; this one was not sent.
 *
 * @property limit the most requests that may wait at once.
 */
public class PendingRequestsFullException(
    public val limit: Int,
) : ParleyException("$limit requests are already waiting for replies: this one was not sent")

/**
 * A request carried the id of one still waiting for its reply; it was not sent, since its reply could not be told
 * apart.
 *
 * @property id the id in use.
 */
public class DuplicateRequestIdException(
    public val id: Any,
) : IllegalArgumentException("request id $id is already waiting for a reply: the request was not sent")
