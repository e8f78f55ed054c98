package dev.parley.samples.conversation

import dev.parley.Frame
import dev.parley.ParleyOptions
import dev.parley.parleyOptions
import java.util.concurrent.atomic.AtomicLong

/** Stamps a sequence number on every outgoing text frame: sends, pushes and requests alike, each once. */
fun sequencedOptions(): ParleyOptions {
    val sequence = AtomicLong()
    return parleyOptions {
        url = "wss://exchange.example.com/ws"
        prepareFrame { frame ->
            if (frame is Frame.Text) Frame.Text("${sequence.incrementAndGet()} ${frame.text}") else frame
        }
    }
}
