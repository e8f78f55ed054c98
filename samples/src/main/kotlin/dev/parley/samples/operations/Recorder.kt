package dev.parley.samples.operations

import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.parleyOptions
import dev.parley.recorder.FrameRecorder
import dev.parley.recorder.RecorderOptions
import dev.parley.recorder.Recording
import dev.parley.recorder.ReplayResult
import java.nio.file.Path

/** Every frame both ways to session.jsonl, off the client's threads; one more field name treated as a secret. */
fun sessionRecorder(): FrameRecorder =
    FrameRecorder.create(Path.of("session.jsonl"), RecorderOptions.builder().redactField("listenKey").build())

fun recordedClient(recorder: FrameRecorder): ParleyClient = Parley.start(
    parleyOptions {
        url = "wss://exchange.example.com/ws/api/v2"
        wireTap = recorder
    },
)

/** Later, or in a test: what the session held, then the same session played into a handler, without a network. */
suspend fun <S> replayInto(handler: ParleyHandler<S>, initial: S): ReplayResult<S> {
    val recording = Recording.readAll(Path.of("session.jsonl"))
    println(recording.summary) // "1840 frames (1210 in, 630 out) over 3 connections in PT14M2S"
    return recording.replay(handler, initial)
}
