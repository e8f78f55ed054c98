package dev.parley

import java.io.IOException

/** The failures Parley reports to callers of [ParleyClient.send], [ParleyClient.connect] and friends. */
public sealed class ParleyException(
    message: String,
    cause: Throwable? = null,
) : IOException(message, cause)

/** A frame was sent while the client was [ConnectionState.Disconnected]; it was not written. */
public class NotConnectedException(
    message: String = "not connected: the frame was not sent",
) : ParleyException(message)

/**
 * The send queue was full and [SendOverflow.FAIL] is configured (or [ParleyClient.trySend] was used); the frame was
 * not queued.
 *
 * @property capacity the queue's capacity in frames.
 */
public class SendQueueFullException(
    public val capacity: Int,
) : ParleyException("send queue is full ($capacity frames): the frame was not queued")

/**
 * The connection ended (or began closing) before the frame was confirmed written.
 *
 * When [mayHaveBeenWritten] is `false` the frame was still queued: it was certainly not sent, and sending it again
 * cannot duplicate it. When it is `true` the frame was being written as the connection failed: it may or may not have
 * reached the peer (a connection that dies mid-flush cannot say), so retry it only if the peer tolerates duplicates.
 *
 * @property reason why the connection ended, or `null` while the close handshake is still running.
 * @property mayHaveBeenWritten whether the frame had already been handed to the connection.
 */
public class ConnectionClosedException(
    public val reason: DisconnectReason?,
    cause: Throwable? = null,
    public val mayHaveBeenWritten: Boolean = false,
) : ParleyException(
    (
        if (mayHaveBeenWritten) {
            "connection closed while the frame was being written (it may have reached the peer)"
        } else {
            "connection closed before the frame was written"
        }
        ) + (reason?.let { ": $it" } ?: ""),
    cause,
)

/**
 * The client is [ConnectionState.Stopped]; nothing can be sent or requested.
 *
 * @property reason why it stopped.
 */
public class ClientStoppedException(
    public val reason: StopReason?,
) : ParleyException("client stopped" + (reason?.let { ": $it" } ?: ""))

/**
 * An explicit [ParleyClient.connect] did not reach [ConnectionState.Connected].
 *
 * @property reason why the attempt failed.
 */
public class ConnectFailedException(
    public val reason: DisconnectReason,
) : ParleyException("connect failed: $reason", (reason as? DisconnectReason.ConnectFailed)?.cause)

/**
 * Reconnection gave up; a client linked to a scope fails that scope with this exception.
 *
 * @property attempts how many reconnect attempts were made.
 * @property last why the last attempt failed.
 */
public class RetriesExhaustedException(
    public val attempts: Int,
    public val last: DisconnectReason,
) : ParleyException("gave up reconnecting after $attempts attempts; last failure: $last")
