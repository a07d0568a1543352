// The extension's single store, shared by commands and panel. Created when the bundle loads;
// preRegistration fills in the configuration.
import { createClueStore, type ClueStore } from './state';

export const clueStore: ClueStore = createClueStore();
