export { LogReader, LOG_READ_DEFAULTS, chunksFrom, runLogSpan, type LogReadOptions, type LogReaderOptions, type LogSpan } from './log-reader.js';
export { StateReader, STATE_READ_DEFAULTS, type StateFile, type StateSnapshot, type StateReaderOptions } from './state-reader.js';
export { StatusView, displayState, type BotView, type DisplayState, type LastExit, type ScheduleView, type StatusViewOptions } from './status-view.js';
export { RunBook, type ManualRunner, type RunBookOptions, type RunHistory, type RunNowResult } from './run-book.js';
