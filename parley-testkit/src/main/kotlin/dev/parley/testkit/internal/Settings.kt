package dev.parley.testkit.internal

import dev.parley.testkit.TestConnection
import dev.parley.testkit.TestMessage
import dev.parley.testkit.UpgradeBehavior
import java.time.Duration

/** A scripted reply: when [matches], [act] runs on the connection's reader thread. */
internal class ReplyRule(val matches: (TestMessage) -> Boolean, val act: (TestConnection, TestMessage) -> Unit)

/** Everything a built server was configured with (a snapshot: the builder may change afterwards). */
internal class Settings(
    val host: String,
    val port: Int,
    val path: String,
    val subprotocols: List<String>,
    val upgrade: UpgradeBehavior,
    val receiveBufferSize: Int,
    val maxMessageSize: Int,
    val defaultTimeout: Duration,
    val quietWindow: Duration,
    val echo: Boolean,
    val rules: List<ReplyRule>,
    val onMessage: List<(TestConnection, TestMessage) -> Unit>,
    val onConnection: List<(TestConnection) -> Unit>,
)
