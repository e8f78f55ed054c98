package dev.parley.samples.connecting

import dev.parley.Compression
import dev.parley.ParleyOptions
import dev.parley.parleyOptions

fun compressedFeedOptions(): ParleyOptions = parleyOptions {
    url = "wss://stream.example.com/ws"
    // On by default as Compression(); the server decides. Tuned here for a feed of small JSON messages:
    compression =
        Compression(
            threshold = 256, // send messages from 256 bytes on compressed (default 1,024)
            serverNoContextTakeover = true, // ask the server to compress each message on its own (saves its memory)
            serverMaxWindowBits = 12, // ask for at most a 4 KiB window
        )
    maxFrameSize = 4L * 1024 * 1024 // also bounds what a compressed message may inflate to (1009 beyond it)
    // or: compression = null, to offer none
}
