export { acceptPeer, type AcceptPeerOptions, type Peer } from "./accept-peer.js";
export {
  PeerCredError,
  UnixSocketError,
  errnoName,
  type PeerCredErrorCode,
  type UnixSocketErrorCode,
} from "./errors.js";
export {
  UnixGrpcServer,
  type GrpcServerCall,
  type PeerConnection,
  type UnixGrpcServerOptions,
} from "./grpc-unix-server.js";
export {
  listenUnixSocket,
  type BoundUnixSocket,
  type UnixSocketListenOptions,
} from "./listen-unix-socket.js";
export {
  peerCredentials,
  peerGroups,
  type PeerCredentialOptions,
  type PeerCredentials,
} from "./peer-credentials.js";
export { PeerProcess, isSameProcessAlive, type PeerProcessOptions } from "./peer-process.js";
export { peerPidfd, pidOfPidfd, type PeerPidfd, type PidfdSource } from "./pidfd.js";
export { linuxSyscalls, type PeerSyscalls } from "./syscalls.js";
