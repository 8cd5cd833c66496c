public enum VQCContainer {}
