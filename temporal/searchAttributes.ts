import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Typed search attributes the booking workflow keeps current; operators filter on them in the UI. */
export const BookingStatusKey = defineSearchAttributeKey('BookingStatus', SearchAttributeType.KEYWORD);
export const RestaurantIdKey = defineSearchAttributeKey('RestaurantId', SearchAttributeType.KEYWORD);
export const BookingStartsAtKey = defineSearchAttributeKey('BookingStartsAt', SearchAttributeType.DATETIME);

/** For registering them on a server: `temporal server start-dev --search-attribute Name=Type`. */
export const SEARCH_ATTRIBUTES = {
  BookingStatus: 'Keyword',
  RestaurantId: 'Keyword',
  BookingStartsAt: 'Datetime',
} as const;
