package dev.parley.samples.conversation

import dev.parley.Frame
import dev.parley.FrameExpiredException
import dev.parley.OutboundBuffer
import dev.parley.OutboundBufferFullException
import dev.parley.ParleyOptions
import dev.parley.parleyOptions
import kotlin.time.Duration.Companion.seconds

class OrderDesk {
    /** Up to 100 orders wait for a connection, none for longer than 5 s: a stale order is worse than none. */
    val buffer = OutboundBuffer(maxFrames = 100, expireAfter = 5.seconds)

    val options: ParleyOptions = parleyOptions {
        url = "wss://exchange.example.com/ws"
        reconnect()
        layer(buffer)
    }

    /** Returns once written, on this connection or the next; a frame once written is never sent again. */
    suspend fun place(order: String): Boolean = try {
        buffer.send(Frame.Text(order))
        true
    } catch (e: OutboundBufferFullException) {
        false
    } catch (e: FrameExpiredException) {
        false
    }
}
