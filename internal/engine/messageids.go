package engine

// Journal MESSAGE_IDs of the events an admin looks for (attribute
// "message_id"; the journal handler turns it into MESSAGE_ID).
const (
	MsgNodeDead      = "5c1e7a3b9d2f4e6a8b0c1d2e3f405161" // a node was declared dead
	MsgGroupAcquired = "7a2b3c4d5e6f40718293a4b5c6d7e8f9" // a resource group runs here (takeover)
	MsgGroupReleased = "9f8e7d6c5b4a43218f7e6d5c4b3a2910" // a resource group was released here
	MsgGroupFailed   = "3e4f5a6b7c8d49e0a1b2c3d4e5f60718" // a start or stop of a group failed
)
