package dev.parley.internal

import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.FrameKind
import dev.parley.TappedFrame
import dev.parley.WireDirection
import dev.parley.WireTap
import dev.parley.transport.Opcode
import dev.parley.transport.WireFrame
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Calls a client's [WireTap] and keeps its failures from reaching the connection: the first is logged with its stack
 * trace, later ones are not (a tap that throws on every frame would otherwise flood the log at the message rate).
 */
internal class Tapping(
    private val tap: WireTap,
    private val log: ClientLog,
) {
    private val failed = AtomicBoolean()

    /** The side of the connection the tap was told opened and not yet told ended. Touched by the loop only. */
    private var open: SessionTap? = null

    /** Tells the tap [connection] opened, and gives the session its side of the tap. */
    fun connected(connection: Long, subprotocol: String?): SessionTap {
        val session = SessionTap(this, connection)
        open = session
        guarded { tap.connected(connection, subprotocol) }
        return session
    }

    /**
     * Tells the tap the open connection ended, once; a failed attempt, which never opened one, tells it nothing.
     * The session's side goes quiet first: a released session may still flush a close frame for a moment (see
     * LiveSession.release), and the tap was promised nothing of a connection after its end.
     */
    fun disconnected(reason: DisconnectReason) {
        val session = open ?: return
        open = null
        session.ended = true
        guarded { tap.disconnected(session.connection, reason) }
    }

    fun frame(frame: TappedFrame) {
        guarded { tap.frame(frame) }
    }

    private inline fun guarded(call: () -> Unit) {
        try {
            call()
        } catch (e: Exception) {
            if (failed.compareAndSet(false, true)) log.error("the wire tap threw; later failures are not logged", e)
        }
    }
}

/** One connection's side of the [Tapping]: what its reader and writer report. */
internal class SessionTap(
    private val tapping: Tapping,
    val connection: Long,
) {
    /** Set by the loop when the tap has been told this connection ended; read by the reader and writer. */
    @Volatile
    var ended = false

    /** Called by the writer as [frame] is written. */
    fun outbound(frame: WireFrame) {
        if (ended) return
        val kind =
            when (frame.opcode) {
                Opcode.TEXT -> FrameKind.TEXT

                Opcode.BINARY -> FrameKind.BINARY

                Opcode.PING -> FrameKind.PING

                Opcode.PONG -> FrameKind.PONG

                Opcode.CLOSE -> FrameKind.CLOSE

                // Parley writes whole messages; a continuation would be part of one already reported.
                Opcode.CONTINUATION -> return
            }
        tapping.frame(TappedFrame(connection, WireDirection.OUTBOUND, kind, frame.payload, null))
    }

    /** Called by the reader with what the peer's frames amounted to, before the loop sees it. */
    fun inbound(inbound: Inbound) {
        if (ended) return
        val tapped =
            when (inbound) {
                is Inbound.Message -> when (val frame = inbound.frame) {
                    is Frame.Text -> TappedFrame(connection, WireDirection.INBOUND, FrameKind.TEXT, null, frame.text)
                    is Frame.Binary -> tapped(FrameKind.BINARY, frame.bytes)
                    is Frame.Ping -> tapped(FrameKind.PING, frame.payload)
                    is Frame.Pong -> tapped(FrameKind.PONG, frame.payload)
                }

                is Inbound.Ping -> tapped(FrameKind.PING, inbound.payload)

                is Inbound.Pong -> tapped(FrameKind.PONG, inbound.payload)

                is Inbound.Close -> tapped(FrameKind.CLOSE, closeFrame(inbound.code, inbound.reason).payload)

                // Not a frame the peer sent but our verdict on one; the disconnect that follows says why.
                is Inbound.Violation -> return
            }
        tapping.frame(tapped)
    }

    private fun tapped(kind: FrameKind, payload: ByteArray) =
        TappedFrame(connection, WireDirection.INBOUND, kind, payload, null)
}
