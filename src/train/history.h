/*
 * history.h — one row per training epoch, as written to history.csv and drawn
 * in curves.png.
 */
#ifndef FER_HISTORY_H
#define FER_HISTORY_H

typedef struct fer_history_row {
    int epoch;           /* 1-based */
    float lr;            /* learning rate at the epoch's last step */
    float train_loss, train_acc;
    float val_loss, val_acc; /* < 0 when there is no validation split */
    float seconds;       /* wall time of the epoch (training + validation) */
} fer_history_row;

#endif
